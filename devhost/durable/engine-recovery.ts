import type { Clock } from '../host/clock.js';
import type { DevhostLogger } from '../host/logger.js';
import type { DurableStore } from './durable-store.js';
import type { EngineDispatch } from './engine-dispatch.js';
import { hasRunnable, type InboxMessage, type InstanceTable } from './engine-instances.js';
import { EventType, type HistoryEvent } from './history.js';

/**
 * Recovery after a restart (or a crash): loads the unfinished instances with their history and
 * stored inbox, re-derives their pending work and dispatches it again.
 *
 * - Pending activities and timers are not stored separately: they are the current execution's
 *   `TaskScheduled` / `TimerCreated` events without a result in the history or the inbox. So
 *   activities are at-least-once (one cut off by the crash runs again), and a timer that came due
 *   while the host was down fires at once (its due time is the clock's past).
 * - Inbox messages of instances that are no longer active are deleted (one deferred unit).
 */

export interface RecoveryOptions {
  store: DurableStore;
  logger: DevhostLogger;
  clock: Clock;
  instances: InstanceTable;
  dispatch: Pick<EngineDispatch, 'markReady' | 'enqueueActivity'>;
}

/** Loads unfinished work from the store into `instances` and re-queues it. Call once, at start. */
export function recoverInstances(options: RecoveryOptions): void {
  const { store, logger, clock, instances, dispatch } = options;
  const byInstance = new Map<string, InboxMessage[]>();
  const orphans: number[] = [];
  const records = store.activeInstances();
  const activeIds = new Set(records.map((r) => r.instanceId));
  for (const message of store.inbox()) {
    if (!activeIds.has(message.instanceId)) {
      orphans.push(message.seq);
      continue;
    }
    const list = byInstance.get(message.instanceId) ?? [];
    list.push({ seq: message.seq, executionId: message.executionId, event: message.event });
    byInstance.set(message.instanceId, list);
  }
  if (orphans.length > 0) store.defer(() => orphans.forEach((seq) => store.deleteInbox(seq)));

  let activities = 0;
  let timers = 0;
  for (const record of records) {
    const history = store.history(record.instanceId);
    const inbox = byInstance.get(record.instanceId) ?? [];
    const active = instances.add(record, history, inbox);
    active.nextChunk = store.lastHistoryChunk(record.instanceId) + 1;

    const scheduled = new Map<number, HistoryEvent>();
    const pendingTimers = new Map<number, HistoryEvent>();
    for (const event of history) {
      if (event.EventType === EventType.TaskScheduled) scheduled.set(event.EventId, event);
      else if (event.EventType === EventType.TaskCompleted || event.EventType === EventType.TaskFailed) scheduled.delete(event.TaskScheduledId ?? -1);
      else if (event.EventType === EventType.TimerCreated) pendingTimers.set(event.EventId, event);
      else if (event.EventType === EventType.TimerFired) pendingTimers.delete(event.TimerId ?? -1);
    }
    for (const message of inbox) {
      const e = message.event;
      if ((e.EventType === EventType.TaskCompleted || e.EventType === EventType.TaskFailed) && message.executionId === record.executionId) {
        scheduled.delete(e.TaskScheduledId ?? -1);
      }
    }
    for (const event of scheduled.values()) {
      activities++;
      dispatch.enqueueActivity({
        instanceId: record.instanceId,
        executionId: record.executionId,
        taskId: event.EventId,
        name: event.Name ?? '',
        inputJson: event.Input,
      });
    }
    for (const event of pendingTimers.values()) {
      timers++;
      instances.armTimer(active, event.EventId, event.FireAt ?? new Date(clock.now()).toISOString());
    }
    if (hasRunnable(active)) dispatch.markReady(active);
  }
  if (records.length > 0) {
    logger.info(`durable: resumed ${records.length} instance(s), re-queued ${activities} activity(ies) and ${timers} timer(s)`);
  }
}
