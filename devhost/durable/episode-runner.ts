import { randomUUID } from 'node:crypto';
import type { Clock } from '../host/clock.js';
import type { Invoker } from '../host/core-types.js';
import type { DevhostLogger } from '../host/logger.js';
import { replayActions, type ScheduledWork } from './action-replay.js';
import type { DurableStore, EntityRequest, InboxRecord, InstanceRecord, RuntimeStatus } from './durable-store.js';
import type { EngineDispatch } from './engine-dispatch.js';
import { RUNNING_STATUSES, executionStartedEvent, newId, type ActiveInstance, type InboxMessage, type InstanceTable } from './engine-instances.js';
import type { DurableFunctionIndex } from './function-catalog.js';
import { EventType, OrchestrationStatusNumber, historyEvent, historyJsonForSdk, type FailureDetails, type HistoryEvent } from './history.js';
import { describeError, stateFromFailure, stateFromReturnValue, type SdkOrchestratorState } from './orchestrator-state.js';

/**
 * Runs and commits one orchestrator episode of an instance: takes the inbox messages it
 * consumes, sends the SDK the history plus the new events (out-of-proc replay), replays the
 * returned actions as the extension's shim does (`replayActions`), and commits the outcome —
 * history chunk, consumed messages, instance row, new work — as one deferred store unit, whose
 * in-memory effects (start activities, arm timers, create children, message entities and the
 * parent) follow once it is queued. Ends executions (completed, failed, terminated) and
 * continues them as new.
 *
 * The dispatcher guarantees one episode per instance at a time; the episode's `now` (every
 * timestamp it writes, the SDK's `currentUtcDateTime`) is the clock's, never earlier than the
 * history's last event.
 */

const LONG_TIMER_INTERVAL = '3.00:00:00';
const MAX_SHORT_TIMER = '6.00:00:00';
const HTTP_SLEEP_MS = 30000;

export interface EpisodeRunnerOptions {
  store: DurableStore;
  functions: DurableFunctionIndex;
  invoke: Invoker;
  logger: DevhostLogger;
  clock: Clock;
  instances: InstanceTable;
  dispatch: Pick<EngineDispatch, 'markReady' | 'enqueueActivity'>;
  entities: { enqueue(entityId: string, request: EntityRequest): void };
  /** The engine's counters; `episodes` counts SDK invocations. */
  stats: { episodes: number };
}

export class EpisodeRunner {
  readonly #store: DurableStore;
  readonly #functions: DurableFunctionIndex;
  readonly #invoke: Invoker;
  readonly #logger: DevhostLogger;
  readonly #clock: Clock;
  readonly #instances: InstanceTable;
  readonly #dispatch: Pick<EngineDispatch, 'markReady' | 'enqueueActivity'>;
  readonly #entities: { enqueue(entityId: string, request: EntityRequest): void };
  readonly #stats: { episodes: number };

  constructor(options: EpisodeRunnerOptions) {
    this.#store = options.store;
    this.#functions = options.functions;
    this.#invoke = options.invoke;
    this.#logger = options.logger;
    this.#clock = options.clock;
    this.#instances = options.instances;
    this.#dispatch = options.dispatch;
    this.#entities = options.entities;
    this.#stats = options.stats;
  }

  /** Takes the messages this episode consumes, in order; the rest stay in the inbox. */
  #takeMessages(active: ActiveInstance): { consumed: InboxMessage[]; events: HistoryEvent[]; terminate: HistoryEvent | undefined } {
    const executionId = active.record.executionId;
    const terminate = active.inbox.find((m) => m.event.EventType === EventType.ExecutionTerminated);
    if (terminate) {
      const consumed = active.inbox;
      active.inbox = [];
      return { consumed, events: [], terminate: terminate.event };
    }
    const consumed: InboxMessage[] = [];
    const events: HistoryEvent[] = [];
    const keep: InboxMessage[] = [];
    let suspended = active.record.status === 'Suspended';
    let stopped = false;
    // A new execution's ExecutionStarted always comes first.
    let ordered = active.inbox;
    const startAt = ordered.findIndex((m) => m.event.EventType === EventType.ExecutionStarted);
    if (startAt > 0) ordered = [ordered[startAt] as InboxMessage, ...ordered.slice(0, startAt), ...ordered.slice(startAt + 1)];
    for (const message of ordered) {
      if (stopped) {
        keep.push(message);
        continue;
      }
      if (message.executionId !== null && message.executionId !== executionId) {
        consumed.push(message); // a result for an earlier execution: discarded
        continue;
      }
      const type = message.event.EventType;
      if (suspended) {
        if (type === EventType.ExecutionResumed) {
          suspended = false;
          consumed.push(message);
          events.push(message.event);
        } else if (type === EventType.ExecutionSuspended) {
          consumed.push(message); // already suspended
        } else {
          keep.push(message);
        }
        continue;
      }
      if (type === EventType.ExecutionSuspended) {
        if (events.length > 0) {
          // Let the events before the suspension run first; suspend in the next episode.
          stopped = true;
          keep.push(message);
          continue;
        }
        suspended = true;
        consumed.push(message);
        events.push(message.event);
        continue;
      }
      if (type === EventType.ExecutionResumed) {
        consumed.push(message); // not suspended: nothing to resume
        continue;
      }
      consumed.push(message);
      events.push(message.event);
    }
    active.inbox = keep;
    return { consumed, events, terminate: undefined };
  }

  /** Runs one episode of `active`; the dispatcher calls it with `active.running` set. */
  async run(active: ActiveInstance): Promise<void> {
    const { consumed, events, terminate } = this.#takeMessages(active);
    if (!terminate && consumed.length === 0) return;
    const record = active.record;
    const consumedSeqs = consumed.map((m) => m.seq).filter((s): s is number => s !== undefined);
    const lastTimestamp = active.history.length > 0 ? Date.parse((active.history[active.history.length - 1] as HistoryEvent).Timestamp) : 0;
    const now = Math.max(this.#clock.now(), lastTimestamp);

    if (terminate) {
      const reason = terminate.Input;
      const closing = [
        historyEvent(EventType.ExecutionTerminated, now, reason === undefined ? {} : { Input: reason }),
        historyEvent(EventType.ExecutionCompleted, now, { OrchestrationStatus: OrchestrationStatusNumber.Terminated, Result: reason ?? '' }),
      ];
      this.#finish(active, 'Terminated', reason ?? '', closing, consumedSeqs, now, { reason: reason ?? '', details: undefined, failureDetails: undefined });
      return;
    }

    const runsCode = events.some((e) => e.EventType !== EventType.ExecutionSuspended && e.EventType !== EventType.ExecutionResumed);
    let status: RuntimeStatus = record.status;
    for (const e of events) {
      if (e.EventType === EventType.ExecutionSuspended) status = 'Suspended';
      else if (e.EventType === EventType.ExecutionResumed) status = 'Running';
    }
    if (!runsCode) {
      this.#commit(active, events, consumedSeqs, { ...record, status, updatedAt: now }, undefined);
      return;
    }
    if (status === 'Pending' || status === 'ContinuedAsNew') status = 'Running';

    const started = historyEvent(EventType.OrchestratorStarted, now);
    const newEvents = [started, ...events];
    const fn = this.#functions.find('orchestrator', record.name);
    let state: SdkOrchestratorState | undefined;
    let failure: string | undefined;
    if (!fn) {
      failure = this.#functions.missing('orchestrator', record.name);
    } else {
      const payload = this.#payload(active, newEvents);
      this.#stats.episodes++;
      try {
        const outcome = await this.#invoke(fn, { [fn.triggerBindingName]: { string: payload } });
        state = stateFromReturnValue(outcome.returnValue);
        if (!state) failure = 'The orchestrator function did not return an orchestration state.';
      } catch (error) {
        state = stateFromFailure(error);
        if (!state) failure = describeError(error);
      }
    }
    if (this.#instances.get(record.instanceId) !== active) return; // replaced or purged meanwhile

    const name = record.name;
    if (failure !== undefined || !state) {
      const reason = `Orchestrator function '${name}' failed: ${failure ?? 'no state'}`;
      this.#fail(active, newEvents, consumedSeqs, now, reason, undefined);
      return;
    }

    const replay = replayActions({
      instanceId: record.instanceId,
      executionId: record.executionId,
      parentInstanceId: record.parentInstanceId ?? undefined,
      history: active.history.concat(newEvents),
      actions: state.actions[0] ?? [],
      catalog: this.#functions,
    });
    if (replay.nonDeterminism !== undefined) {
      this.#logger.warn(`durable: ${name} (${record.instanceId}) failed: ${replay.nonDeterminism}`);
      this.#fail(active, newEvents, consumedSeqs, now, replay.nonDeterminism, undefined);
      return;
    }
    if (replay.invalidAction !== undefined) {
      this.#fail(active, newEvents, consumedSeqs, now, `Orchestrator function '${name}' failed: ${replay.invalidAction}`, undefined);
      return;
    }

    const customStatus = state.customStatus === undefined || state.customStatus === null ? null : JSON.stringify(state.customStatus);
    const scheduling = this.#schedulingEvents(active, replay.newWork, now);
    const finished = replay.shimCompleted && replay.openTasks === 0;
    const allEvents = [...newEvents, ...scheduling.events];

    if (state.error !== undefined && finished) {
      const reason = `Orchestrator function '${name}' failed: ${state.error}`;
      this.#fail(active, allEvents, consumedSeqs, now, reason, customStatus, scheduling.effects);
      return;
    }
    if (state.isDone && finished && replay.continueAsNew) {
      this.#continueAsNew(active, consumedSeqs, now, replay.continueAsNew.inputJson, replay.continueAsNew.carryOver, customStatus, scheduling.effects);
      return;
    }
    if (state.isDone && finished) {
      const output = JSON.stringify(state.output ?? null);
      const closing = historyEvent(EventType.ExecutionCompleted, now, { OrchestrationStatus: OrchestrationStatusNumber.Completed, Result: output });
      this.#finish(
        active,
        'Completed',
        output,
        [...allEvents, historyEvent(EventType.OrchestratorCompleted, now), closing],
        consumedSeqs,
        now,
        undefined,
        customStatus,
        scheduling.effects,
      );
      return;
    }
    allEvents.push(historyEvent(EventType.OrchestratorCompleted, now));
    this.#commit(active, allEvents, consumedSeqs, { ...record, status, customStatus, updatedAt: now }, scheduling.effects);
  }

  /** The orchestration trigger payload the SDK expects, built as text around the cached history. */
  #payload(active: ActiveInstance, newEvents: readonly HistoryEvent[]): string {
    const record = active.record;
    const fresh = historyJsonForSdk(newEvents, false);
    const history = active.playedJson === '' ? fresh : fresh === '' ? active.playedJson : `${active.playedJson},${fresh}`;
    return (
      `{"history":[${history}],"input":${record.input ?? 'null'},"instanceId":${JSON.stringify(record.instanceId)},` +
      `"isReplaying":${active.history.length > 0},"parentInstanceId":${record.parentInstanceId === null ? 'null' : JSON.stringify(record.parentInstanceId)},` +
      `"upperSchemaVersion":1,"upperSchemaVersionNew":2,"longRunningTimerIntervalDuration":"${LONG_TIMER_INTERVAL}",` +
      `"maximumShortTimerDuration":"${MAX_SHORT_TIMER}","defaultHttpAsyncRequestSleepTimeMillseconds":${HTTP_SLEEP_MS}}`
    );
  }

  /**
   * History events for new work, and the in-memory effects to apply once the episode's unit is
   * queued (start activities, arm timers, create children, message entities).
   */
  #schedulingEvents(active: ActiveInstance, work: readonly ScheduledWork[], now: number): { events: HistoryEvent[]; effects: () => void } {
    const record = active.record;
    const events: HistoryEvent[] = [];
    const effects: (() => void)[] = [];
    for (const item of work) {
      switch (item.kind) {
        case 'activity': {
          const fields: Partial<HistoryEvent> = { EventId: item.id, Name: item.name };
          if (item.inputJson !== undefined) fields.Input = item.inputJson;
          events.push(historyEvent(EventType.TaskScheduled, now, fields));
          effects.push(() =>
            this.#dispatch.enqueueActivity({ instanceId: record.instanceId, executionId: record.executionId, taskId: item.id, name: item.name, inputJson: item.inputJson }),
          );
          break;
        }
        case 'timer':
          events.push(historyEvent(EventType.TimerCreated, now, { EventId: item.id, FireAt: item.fireAt }));
          effects.push(() => this.#instances.armTimer(active, item.id, item.fireAt));
          break;
        case 'subOrchestration': {
          const fields: Partial<HistoryEvent> = { EventId: item.id, Name: item.name, InstanceId: item.instanceId };
          if (item.inputJson !== undefined) fields.Input = item.inputJson;
          events.push(historyEvent(EventType.SubOrchestrationInstanceCreated, now, fields));
          effects.push(() => this.#startChild(active, item));
          break;
        }
        case 'entityMessage': {
          const requestId = randomUUID();
          const request: { op: string; signal?: boolean; input?: string; id: string; parent: string; parentExecution: string } = {
            op: item.operation,
            id: requestId,
            parent: record.instanceId,
            parentExecution: record.executionId,
          };
          if (item.signal) request.signal = true;
          if (item.inputJson !== undefined) request.input = item.inputJson;
          events.push(historyEvent(EventType.EventSent, now, { EventId: item.id, Name: 'op', InstanceId: item.entityId, Input: JSON.stringify(request) }));
          effects.push(() => {
            const queued: { id: string; op: string; signal: boolean; input?: string; parent?: string; parentExecution?: string } = {
              id: requestId,
              op: item.operation,
              signal: item.signal,
            };
            if (item.inputJson !== undefined) queued.input = item.inputJson;
            if (!item.signal) {
              queued.parent = record.instanceId;
              queued.parentExecution = record.executionId;
            }
            this.#entities.enqueue(item.entityId, queued);
          });
          break;
        }
      }
    }
    return { events, effects: () => effects.forEach((apply) => apply()) };
  }

  #startChild(parent: ActiveInstance, item: Extract<ScheduledWork, { kind: 'subOrchestration' }>): void {
    const existing = this.#instances.get(item.instanceId);
    if (existing && RUNNING_STATUSES.has(existing.record.status)) {
      const reason = `An Orchestration instance with the status ${existing.record.status} already exists.`;
      this.#instances.deliver(
        parent.record.instanceId,
        parent.record.executionId,
        historyEvent(EventType.SubOrchestrationInstanceFailed, this.#clock.now(), { TaskScheduledId: item.id, Reason: reason, Details: reason }),
      );
      return;
    }
    if (existing) this.#instances.retire(existing);
    this.#instances.create(item.name, item.instanceId, item.inputJson, {
      instanceId: parent.record.instanceId,
      executionId: parent.record.executionId,
      taskId: item.id,
      name: parent.record.name,
    });
  }

  /** Appends an episode's events, removes consumed messages and saves the row: one unit. */
  #commit(active: ActiveInstance, events: readonly HistoryEvent[], consumedSeqs: readonly number[], record: InstanceRecord, effects: (() => void) | undefined): void {
    const instanceId = record.instanceId;
    const chunk = events.length > 0 ? active.nextChunk++ : -1;
    const chunkJson = events.length > 0 ? JSON.stringify(events) : '';
    const snapshot = { ...record };
    this.#store.defer(() => {
      if (chunk >= 0) this.#store.appendHistory(instanceId, chunk, chunkJson);
      for (const seq of consumedSeqs) this.#store.deleteInbox(seq);
      this.#store.saveInstance(snapshot);
    });
    active.record = record;
    for (const event of events) active.history.push(event);
    const played = historyJsonForSdk(events, true);
    if (played !== '') active.playedJson = active.playedJson === '' ? played : `${active.playedJson},${played}`;
    effects?.();
  }

  #fail(
    active: ActiveInstance,
    events: readonly HistoryEvent[],
    consumedSeqs: readonly number[],
    now: number,
    reason: string,
    customStatus: string | null | undefined,
    effects?: () => void,
  ): void {
    const details = `Message: ${reason}`;
    const closing = historyEvent(EventType.ExecutionCompleted, now, { OrchestrationStatus: OrchestrationStatusNumber.Failed, Result: reason });
    this.#finish(
      active,
      'Failed',
      reason,
      [...events, historyEvent(EventType.OrchestratorCompleted, now), closing],
      consumedSeqs,
      now,
      { reason, details, failureDetails: undefined },
      customStatus,
      effects,
    );
  }

  /** Ends the execution: final history, status and output, the parent's notification. */
  #finish(
    active: ActiveInstance,
    status: 'Completed' | 'Failed' | 'Terminated',
    output: string,
    events: readonly HistoryEvent[],
    consumedSeqs: readonly number[],
    now: number,
    failure: { reason: string; details: string | undefined; failureDetails: FailureDetails | undefined } | undefined,
    customStatus?: string | null,
    effects?: () => void,
  ): void {
    const record: InstanceRecord = {
      ...active.record,
      status,
      output,
      customStatus: customStatus === undefined ? active.record.customStatus : customStatus,
      updatedAt: now,
    };
    const leftover = active.inbox.map((m) => m.seq).filter((s): s is number => s !== undefined);
    this.#commit(active, events, [...consumedSeqs, ...leftover], record, effects);
    this.#instances.retire(active);
    if (record.parentInstanceId !== null && record.parentTaskId !== null) {
      const event =
        status === 'Completed'
          ? historyEvent(EventType.SubOrchestrationInstanceCompleted, now, { TaskScheduledId: record.parentTaskId, Result: output })
          : historyEvent(EventType.SubOrchestrationInstanceFailed, now, {
              TaskScheduledId: record.parentTaskId,
              Reason: failure?.reason ?? output,
              Details: failure?.details ?? failure?.reason ?? output,
            });
      this.#instances.deliver(record.parentInstanceId, record.parentExecutionId, event);
    }
    // Waiters answer HTTP callers: only once the outcome is stored.
    this.#instances.settle(record);
  }

  #continueAsNew(
    active: ActiveInstance,
    consumedSeqs: readonly number[],
    now: number,
    inputJson: string | undefined,
    carryOver: readonly HistoryEvent[],
    customStatus: string | null,
    effects: () => void,
  ): void {
    const previous = active.record;
    const record: InstanceRecord = { ...previous, executionId: newId(), status: 'ContinuedAsNew', input: inputJson ?? null, output: null, customStatus, updatedAt: now };
    const started = executionStartedEvent(record, inputJson, undefined, now);
    const messages: InboxRecord[] = [started, ...carryOver].map((event) => ({
      seq: this.#store.nextInboxSeq(),
      instanceId: record.instanceId,
      executionId: event === started ? record.executionId : null,
      event,
    }));
    const snapshot = { ...record };
    const instanceId = record.instanceId;
    // Only the latest execution's history is kept: the new one starts empty.
    this.#store.defer(() => {
      this.#store.clearHistory(instanceId);
      for (const seq of consumedSeqs) this.#store.deleteInbox(seq);
      this.#store.saveInstance(snapshot);
      for (const message of messages) this.#store.insertInbox(message);
    });
    // Work the last episode issued belongs to the old execution (its results are discarded).
    effects();
    this.#instances.cancelTimers(active);
    active.record = record;
    active.history = [];
    active.playedJson = '';
    active.nextChunk = 0;
    active.inbox = [...messages.map((m) => ({ seq: m.seq, executionId: m.executionId, event: m.event })), ...active.inbox];
    this.#dispatch.markReady(active);
  }
}
