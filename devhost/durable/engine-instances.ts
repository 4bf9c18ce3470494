import { randomUUID } from 'node:crypto';
import type { Clock } from '../host/clock.js';
import type { DurableStore, InboxRecord, InstanceRecord, RuntimeStatus } from './durable-store.js';
import { EventType, historyEvent, historyJsonForSdk, type HistoryEvent } from './history.js';
import { TimerWheel, type TimerHandle } from './timer-wheel.js';

/**
 * The engine's in-memory instance table, shared by its jobs (client operations, dispatch,
 * episodes, recovery): the live instances with their cached history and inbox, message
 * delivery, durable timers and the waiters for a terminal state. Hot state lives here; SQLite
 * is the durable record (every change here is deferred to the store in the same call).
 */

/** One message in an instance's inbox. */
export interface InboxMessage {
  /** `undefined` for in-memory messages (fired timers), which are re-derived after a restart. */
  seq: number | undefined;
  executionId: string | null;
  event: HistoryEvent;
}

/** An activity to run for an instance's execution. */
export interface ActivityWork {
  instanceId: string;
  executionId: string;
  taskId: number;
  name: string;
  inputJson: string | undefined;
}

/** A live (not finished) instance. */
export interface ActiveInstance {
  record: InstanceRecord;
  history: HistoryEvent[];
  /** The history as the SDK is sent it (the events it reads), `IsPlayed: true`, comma-separated. */
  playedJson: string;
  nextChunk: number;
  inbox: InboxMessage[];
  /** An episode is running (one per instance at a time). */
  running: boolean;
  /** Queued in the dispatcher's ready queue. */
  ready: boolean;
  timers: Map<number, TimerHandle>;
}

/** The parent of a sub-orchestration, as its `ExecutionStarted` names it. */
export interface ParentRef {
  instanceId: string;
  executionId: string;
  taskId: number;
  name: string;
}

export const RUNNING_STATUSES: ReadonlySet<RuntimeStatus> = new Set(['Running', 'Pending', 'ContinuedAsNew', 'Suspended']);

/** A GUID without dashes, as DurableTask writes instance and execution ids. */
export function newId(): string {
  return randomUUID().replaceAll('-', '');
}

/** The `ExecutionStarted` event of `record`'s execution. */
export function executionStartedEvent(record: InstanceRecord, inputJson: string | undefined, parent: ParentRef | undefined, at: number): HistoryEvent {
  const fields: Partial<HistoryEvent> = {
    Name: record.name,
    OrchestrationInstance: { InstanceId: record.instanceId, ExecutionId: record.executionId },
  };
  if (inputJson !== undefined) fields.Input = inputJson;
  if (parent) {
    fields.ParentInstance = {
      Name: parent.name,
      OrchestrationInstance: { InstanceId: parent.instanceId, ExecutionId: parent.executionId },
      TaskScheduleId: parent.taskId,
    };
  }
  return historyEvent(EventType.ExecutionStarted, at, fields);
}

/** Whether the instance has a message an episode would consume (a suspended one only reacts to resume, terminate and stale results). */
export function hasRunnable(active: ActiveInstance): boolean {
  if (active.record.status !== 'Suspended') return active.inbox.length > 0;
  return active.inbox.some(
    (m) =>
      m.event.EventType === EventType.ExecutionResumed ||
      m.event.EventType === EventType.ExecutionTerminated ||
      (m.executionId !== null && m.executionId !== active.record.executionId),
  );
}

export interface InstanceTableOptions {
  store: DurableStore;
  clock: Clock;
  /** Queues an instance that has new messages for an episode (the dispatcher's ready queue). */
  markReady(active: ActiveInstance): void;
}

export class InstanceTable {
  readonly #store: DurableStore;
  readonly #clock: Clock;
  readonly #markReady: (active: ActiveInstance) => void;
  readonly #byId = new Map<string, ActiveInstance>();
  readonly #timers: TimerWheel;
  readonly #waiters = new Map<string, Set<(record: InstanceRecord | undefined) => void>>();

  constructor(options: InstanceTableOptions) {
    this.#store = options.store;
    this.#clock = options.clock;
    this.#markReady = options.markReady;
    this.#timers = new TimerWheel(options.clock);
  }

  get(instanceId: string): ActiveInstance | undefined {
    return this.#byId.get(instanceId);
  }

  /** How many instances are live in memory (finished ones are retired: their state is only in the store). */
  get size(): number {
    return this.#byId.size;
  }

  /** Whether `active` is still the live instance for its id and has messages for an episode. */
  isRunnable(active: ActiveInstance): boolean {
    return this.#byId.get(active.record.instanceId) === active && hasRunnable(active);
  }

  /** Adds an instance loaded from the store (or just created) to the table. */
  add(record: InstanceRecord, history: HistoryEvent[], inbox: InboxMessage[]): ActiveInstance {
    const active: ActiveInstance = {
      record,
      history,
      playedJson: historyJsonForSdk(history, true),
      nextChunk: 0,
      inbox,
      running: false,
      ready: false,
      timers: new Map(),
    };
    this.#byId.set(record.instanceId, active);
    return active;
  }

  /** Creates an instance with its `ExecutionStarted` message (one deferred unit) and makes it ready. */
  create(name: string, instanceId: string, inputJson: string | undefined, parent: ParentRef | undefined): void {
    const now = this.#clock.now();
    const record: InstanceRecord = {
      instanceId,
      name,
      executionId: newId(),
      status: 'Pending',
      input: inputJson ?? null,
      output: null,
      customStatus: null,
      createdAt: now,
      updatedAt: now,
      parentInstanceId: parent?.instanceId ?? null,
      parentExecutionId: parent?.executionId ?? null,
      parentTaskId: parent?.taskId ?? null,
    };
    const started = executionStartedEvent(record, inputJson, parent, now);
    const message: InboxRecord = { seq: this.#store.nextInboxSeq(), instanceId, executionId: record.executionId, event: started };
    const snapshot = { ...record };
    this.#store.defer(() => {
      this.#store.clearHistory(instanceId);
      this.#store.clearInbox(instanceId);
      this.#store.saveInstance(snapshot);
      this.#store.insertInbox(message);
    });
    const active = this.add(record, [], [{ seq: message.seq, executionId: message.executionId, event: started }]);
    this.#markReady(active);
  }

  /** Drops an active instance from memory (it is being replaced or finished). */
  retire(active: ActiveInstance): void {
    this.cancelTimers(active);
    active.inbox = [];
    this.#byId.delete(active.record.instanceId);
  }

  /**
   * Adds a message to an instance's inbox (persisted with this turn) and makes it ready.
   * Messages for instances that are not running are dropped, as the extension discards them.
   */
  deliver(instanceId: string, executionId: string | null, event: HistoryEvent): boolean {
    const active = this.#byId.get(instanceId);
    if (!active) return false;
    const record: InboxRecord = { seq: this.#store.nextInboxSeq(), instanceId, executionId, event };
    active.inbox.push({ seq: record.seq, executionId, event });
    this.#store.defer(() => this.#store.insertInbox(record));
    this.#markReady(active);
    return true;
  }

  /** Arms durable timer `timerId` of the instance's current execution; its `TimerFired` is an in-memory message. */
  armTimer(active: ActiveInstance, timerId: number, fireAt: string): void {
    const executionId = active.record.executionId;
    const instanceId = active.record.instanceId;
    const due = Date.parse(fireAt);
    const handle = this.#timers.schedule(Number.isNaN(due) ? this.#clock.now() : due, () => {
      const current = this.#byId.get(instanceId);
      if (!current || current.record.executionId !== executionId) return;
      current.timers.delete(timerId);
      current.inbox.push({ seq: undefined, executionId, event: historyEvent(EventType.TimerFired, this.#clock.now(), { TimerId: timerId, FireAt: fireAt }) });
      this.#markReady(current);
    });
    active.timers.set(timerId, handle);
  }

  cancelTimers(active: ActiveInstance): void {
    for (const timer of active.timers.values()) timer.cancel();
    active.timers.clear();
  }

  /** Stops every durable timer (shutdown). */
  stopTimers(): void {
    this.#timers.stop();
  }

  /**
   * Resolves with the instance once it is Completed, Failed or Terminated (see
   * {@link InstanceTable.settle}), or `undefined` after `timeoutMs` of real time.
   */
  waitForTerminal(instanceId: string, timeoutMs: number): Promise<InstanceRecord | undefined> {
    return new Promise((resolve) => {
      const set = this.#waiters.get(instanceId) ?? new Set();
      const onDone = (record: InstanceRecord | undefined): void => {
        clearTimeout(timer);
        resolve(record);
      };
      // Real time on purpose: this bounds how long a caller (an HTTP long poll, a test) waits, and
      // must run out even on a clock nobody advances. Durable time is the clock's.
      // eslint-disable-next-line no-restricted-globals
      const timer = setTimeout(
        () => {
          set.delete(onDone);
          if (set.size === 0 && this.#waiters.get(instanceId) === set) this.#waiters.delete(instanceId);
          resolve(undefined);
        },
        Math.max(0, timeoutMs),
      );
      set.add(onDone);
      this.#waiters.set(instanceId, set);
    });
  }

  /** Answers the waiters of a finished instance, once its outcome is stored (they answer HTTP callers). */
  settle(record: InstanceRecord): void {
    const waiters = this.#waiters.get(record.instanceId);
    if (!waiters) return;
    this.#waiters.delete(record.instanceId);
    this.#store.afterCommit(() => {
      for (const resolve of waiters) resolve({ ...record });
    });
  }

  /** Answers every waiter with `undefined` (shutdown). */
  releaseWaiters(): void {
    for (const waiters of this.#waiters.values()) for (const resolve of waiters) resolve(undefined);
    this.#waiters.clear();
  }
}
