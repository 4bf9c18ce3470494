import { randomUUID } from 'node:crypto';
import type { Invoker, RegisteredFunction } from '../host/core-types.js';
import type { DevhostLogger } from '../host/logger.js';
import { replayActions, type ScheduledWork } from './action-replay.js';
import { TERMINAL_STATUSES, type DurableStore, type EntityRecord, type InboxRecord, type InstanceQuery, type InstanceRecord, type RuntimeStatus } from './durable-store.js';
import { EntityScheduler } from './entity-scheduler.js';
import { DurableFunctionIndex } from './function-catalog.js';
import { EventType, OrchestrationStatusNumber, historyEvent, historyJsonForSdk, type FailureDetails, type HistoryEvent } from './history.js';
import { jsonToTypedData, typedDataToJson } from './json-text.js';
import { describeError, stateFromFailure, stateFromReturnValue, type SdkOrchestratorState } from './orchestrator-state.js';
import { TimerWheel, type TimerHandle } from './timer-wheel.js';

/**
 * The durable task engine: instances, histories, the dispatch of orchestrator episodes,
 * activities, timers and entity batches, and the operations the durable client performs.
 *
 * Invariants (see README.md):
 * - One episode per instance at a time; different instances run in parallel up to
 *   `maxConcurrentOrchestratorFunctions`; activities up to `maxConcurrentActivityFunctions`.
 * - An episode's effects (history chunk, consumed messages, instance row, new child instances,
 *   messages to parents and entities) are one deferred store unit, so they commit atomically.
 * - Pending activities and timers are not stored separately: they are the `TaskScheduled` /
 *   `TimerCreated` events of the current execution without a result, re-derived on start.
 *   Activities are therefore at-least-once; timers that came due while the host was down fire
 *   at once.
 * - Hot state lives in memory; SQLite is the durable record.
 * - Fails closed: while the store cannot commit, client operations throw
 *   `StorageUnavailableError` (503) before touching memory, and no episode, activity or entity
 *   batch is dispatched; work that finishes meanwhile queues its units behind the failed ones.
 *   Dispatch resumes when the store reports healthy again.
 */

/** An error the HTTP API reports with `status`, in the extension's error shape. */
export class DurableApiError extends Error {
  override readonly name = 'DurableApiError';
  constructor(
    readonly status: number,
    message: string,
    readonly exceptionMessage?: string,
    readonly exceptionType?: string,
  ) {
    super(message);
  }
}

export interface DurableEngineOptions {
  store: DurableStore;
  functions: Iterable<RegisteredFunction>;
  invoke: Invoker;
  logger: DevhostLogger;
  maxConcurrentActivities: number;
  maxConcurrentOrchestrations: number;
  maxConcurrentEntities: number;
  /** Entity operations per batch. */
  entityBatchSize: number;
  /** host.json `overridableExistingInstanceStates`: `AnyState` lets a start replace a running instance. */
  overridableExistingInstanceStates: 'NonRunningStates' | 'AnyState';
}

/** What `raiseEvent`, `terminate`, `suspend` and `resume` report. */
export type InstanceOperationResult = 'accepted' | 'notFound' | 'gone';

interface InboxMessage {
  /** `undefined` for in-memory messages (fired timers), which are re-derived after a restart. */
  seq: number | undefined;
  executionId: string | null;
  event: HistoryEvent;
}

interface ActivityWork {
  instanceId: string;
  executionId: string;
  taskId: number;
  name: string;
  inputJson: string | undefined;
}

interface ActiveInstance {
  record: InstanceRecord;
  history: HistoryEvent[];
  /** The history as the SDK is sent it (the events it reads), `IsPlayed: true`, comma-separated. */
  playedJson: string;
  nextChunk: number;
  inbox: InboxMessage[];
  running: boolean;
  ready: boolean;
  timers: Map<number, TimerHandle>;
}

/** A FIFO queue with O(1) shift. */
class Queue<T> {
  #items: (T | undefined)[] = [];
  #head = 0;
  get length(): number {
    return this.#items.length - this.#head;
  }
  push(item: T): void {
    this.#items.push(item);
  }
  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }
}

const LONG_TIMER_INTERVAL = '3.00:00:00';
const MAX_SHORT_TIMER = '6.00:00:00';
const HTTP_SLEEP_MS = 30000;
const RUNNING_STATUSES: ReadonlySet<RuntimeStatus> = new Set(['Running', 'Pending', 'ContinuedAsNew', 'Suspended']);

/** A GUID without dashes, as DurableTask writes instance and execution ids. */
function newId(): string {
  return randomUUID().replaceAll('-', '');
}

/** Validates an instance id the way the extension's client does; returns a problem or undefined. */
export function instanceIdProblem(id: string): string | undefined {
  if (id.startsWith('@')) return 'Orchestration instance ids must not start with @.';
  // eslint-disable-next-line no-control-regex
  if (/[/\\?#\u0000-\u001f\u007f-\u009f]/.test(id)) return 'Orchestration instance ids must not contain /, \\, #, ?, or control characters.';
  if (id.length > 100) return 'Instance ID lengths must not exceed 100 characters.';
  return undefined;
}

export class OrchestrationEngine {
  readonly #store: DurableStore;
  readonly #invoke: Invoker;
  readonly #logger: DevhostLogger;
  readonly #options: DurableEngineOptions;
  readonly functions: DurableFunctionIndex;
  readonly entities: EntityScheduler;
  readonly #timers = new TimerWheel();
  readonly #active = new Map<string, ActiveInstance>();
  readonly #ready = new Queue<ActiveInstance>();
  readonly #activities = new Queue<ActivityWork>();
  readonly #waiters = new Map<string, Set<(record: InstanceRecord | undefined) => void>>();
  readonly #idleWaiters: (() => void)[] = [];
  readonly #inFlight = new Set<Promise<void>>();
  #runningEpisodes = 0;
  #runningActivities = 0;
  #pumpScheduled = false;
  #stopping = false;
  #started = false;
  #removeHealthListener: (() => void) | undefined;
  /** Counters for benchmarks and diagnostics. */
  readonly stats = { episodes: 0, activities: 0, entityBatches: 0 };

  constructor(options: DurableEngineOptions) {
    this.#options = options;
    this.#store = options.store;
    this.#invoke = options.invoke;
    this.#logger = options.logger;
    this.functions = new DurableFunctionIndex(options.functions);
    this.entities = new EntityScheduler({
      store: options.store,
      functions: this.functions,
      invoke: options.invoke,
      logger: options.logger,
      maxConcurrent: options.maxConcurrentEntities,
      batchSize: options.entityBatchSize,
      respond: (instanceId, executionId, requestId, responseJson) => {
        this.#deliver(instanceId, executionId ?? null, historyEvent(EventType.EventRaised, Date.now(), { Name: requestId, Input: responseJson }));
      },
      onSettled: () => {
        this.stats.entityBatches++;
        this.#checkIdle();
      },
    });
  }

  // ---- lifecycle ------------------------------------------------------------------------

  /** Loads unfinished work from the store and starts dispatching. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#removeHealthListener = this.#store.onHealthChange((healthy) => {
      if (!healthy || this.#stopping) return;
      this.#schedulePump();
      this.#startActivities();
      this.entities.resume();
    });
    this.#recover();
    this.entities.recover();
    this.#schedulePump();
  }

  /**
   * Stops dispatching and waits (up to `graceMs`) for in-flight invocations, then commits what
   * they produced. Work still running after that is redone after a restart.
   */
  async stop(graceMs = 5000): Promise<void> {
    this.#stopping = true;
    this.#removeHealthListener?.();
    this.entities.stop();
    this.#timers.stop();
    const deadline = Date.now() + graceMs;
    while (this.#inFlight.size > 0 && Date.now() < deadline) {
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
      });
      await Promise.race([Promise.allSettled([...this.#inFlight]), grace]);
      clearTimeout(timer);
    }
    try {
      this.#store.flush();
    } catch {
      // The store logged what it could not commit; none of it was acknowledged.
    }
    for (const resolve of this.#idleWaiters.splice(0)) resolve();
    for (const waiters of this.#waiters.values()) for (const resolve of waiters) resolve(undefined);
    this.#waiters.clear();
  }

  /** Resolves when nothing is runnable: no queued or running episodes, activities or entity batches (timers may be pending). */
  whenIdle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #isIdle(): boolean {
    return (
      this.#stopping ||
      (this.#ready.length === 0 && this.#runningEpisodes === 0 && this.#runningActivities === 0 && this.#activities.length === 0 && !this.#pumpScheduled && this.entities.idle)
    );
  }

  #checkIdle(): void {
    if (this.#idleWaiters.length > 0 && this.#isIdle()) {
      for (const resolve of this.#idleWaiters.splice(0)) resolve();
    }
  }

  #track(work: Promise<void>): void {
    this.#inFlight.add(work);
    void work.finally(() => this.#inFlight.delete(work));
  }

  // ---- client operations ----------------------------------------------------------------

  /**
   * Starts an orchestration (the client's `startNew`). Throws {@link DurableApiError} for an
   * unknown function (400), a bad instance id (400) or an id that is still running (500, as the
   * extension reports `OrchestrationAlreadyExistsException`).
   */
  startOrchestration(name: string, requestedId: string | undefined, inputJson: string | undefined): string {
    this.#store.assertWritable();
    const fn = this.functions.find('orchestrator', name);
    if (!fn) throw new DurableApiError(400, 'One or more of the arguments submitted is incorrect', this.functions.missing('orchestrator', name), 'System.ArgumentException');
    const instanceId = requestedId === undefined || requestedId === '' ? newId() : requestedId;
    const problem = instanceIdProblem(instanceId);
    if (problem) throw new DurableApiError(400, 'One or more of the arguments submitted is incorrect', problem, 'System.ArgumentException');
    const existing = this.#active.get(instanceId);
    if (existing && this.#options.overridableExistingInstanceStates !== 'AnyState' && RUNNING_STATUSES.has(existing.record.status)) {
      throw new DurableApiError(
        500,
        'Something went wrong while processing your request',
        `An Orchestration instance with the status ${existing.record.status} already exists.`,
        'DurableTask.Core.Exceptions.OrchestrationAlreadyExistsException',
      );
    }
    if (existing) this.#retire(existing);
    this.#createInstance(fn.name, instanceId, inputJson, undefined);
    return instanceId;
  }

  /** Raises an external event (`dataJson` is JSON text). */
  raiseEvent(instanceId: string, eventName: string, dataJson: string | undefined): InstanceOperationResult {
    this.#store.assertWritable();
    const active = this.#active.get(instanceId);
    if (!active) return this.#store.getInstance(instanceId) ? 'gone' : 'notFound';
    const fields: Partial<HistoryEvent> = { Name: eventName };
    if (dataJson !== undefined) fields.Input = dataJson;
    this.#deliver(instanceId, null, historyEvent(EventType.EventRaised, Date.now(), fields));
    return 'accepted';
  }

  terminate(instanceId: string, reason: string | undefined): InstanceOperationResult {
    return this.#control(instanceId, EventType.ExecutionTerminated, reason);
  }

  suspend(instanceId: string, reason: string | undefined): InstanceOperationResult {
    return this.#control(instanceId, EventType.ExecutionSuspended, reason);
  }

  resume(instanceId: string, reason: string | undefined): InstanceOperationResult {
    return this.#control(instanceId, EventType.ExecutionResumed, reason);
  }

  #control(instanceId: string, type: number, reason: string | undefined): InstanceOperationResult {
    this.#store.assertWritable();
    const active = this.#active.get(instanceId);
    if (!active) return this.#store.getInstance(instanceId) ? 'gone' : 'notFound';
    this.#deliver(instanceId, null, historyEvent(type, Date.now(), reason === undefined ? {} : { Input: reason }));
    return 'accepted';
  }

  /** Deletes an instance and its history. Only terminal instances can be purged. */
  purge(instanceId: string): number {
    this.#store.flush();
    const record = this.#store.getInstance(instanceId);
    if (!record) return 0;
    if (!TERMINAL_STATUSES.has(record.status)) {
      throw new DurableApiError(400, `The instance '${instanceId}' is ${record.status}; only completed, failed or terminated instances can be purged.`);
    }
    this.#store.writeNow(() => this.#store.deleteInstance(instanceId));
    return 1;
  }

  /** Purges the terminal instances matching `query`; returns how many. */
  purgeWhere(query: InstanceQuery): number {
    this.#store.flush();
    const purgeable = this.#store.queryInstances(query).filter((record) => TERMINAL_STATUSES.has(record.status));
    if (purgeable.length > 0) this.#store.writeNow(() => purgeable.forEach((record) => this.#store.deleteInstance(record.instanceId)));
    return purgeable.length;
  }

  /** Throws `StorageUnavailableError` (503) while the store cannot commit. */
  assertAvailable(): void {
    this.#store.assertWritable();
  }

  /** Commits this turn's changes now; call before telling a client that something happened. */
  flush(): void {
    this.#store.flush();
  }

  /** Entities with state, optionally of one entity name. */
  listEntities(name: string | undefined): EntityRecord[] {
    this.#store.flush();
    return this.#store.entities(name);
  }

  /** The stored instance, with this turn's changes committed first. */
  getInstance(instanceId: string): InstanceRecord | undefined {
    this.#store.flush();
    return this.#store.getInstance(instanceId);
  }

  history(instanceId: string): HistoryEvent[] {
    this.#store.flush();
    return this.#store.history(instanceId);
  }

  query(query: InstanceQuery): InstanceRecord[] {
    this.#store.flush();
    return this.#store.queryInstances(query);
  }

  /** Resolves with the instance once it is Completed, Failed or Terminated, or `undefined` after `timeoutMs`. */
  waitForTerminal(instanceId: string, timeoutMs: number): Promise<InstanceRecord | undefined> {
    const current = this.getInstance(instanceId);
    if (!current || TERMINAL_STATUSES.has(current.status) || !this.#active.has(instanceId)) return Promise.resolve(current);
    return new Promise((resolve) => {
      const set = this.#waiters.get(instanceId) ?? new Set();
      const onDone = (record: InstanceRecord | undefined): void => {
        clearTimeout(timer);
        resolve(record);
      };
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

  // ---- instances and messages -----------------------------------------------------------

  #newActive(record: InstanceRecord, history: HistoryEvent[], inbox: InboxMessage[]): ActiveInstance {
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
    this.#active.set(record.instanceId, active);
    return active;
  }

  /** Creates an instance with its `ExecutionStarted` message (one deferred unit). */
  #createInstance(
    name: string,
    instanceId: string,
    inputJson: string | undefined,
    parent: { instanceId: string; executionId: string; taskId: number; name: string } | undefined,
  ): void {
    const now = Date.now();
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
    const started = this.#executionStarted(record, inputJson, parent, now);
    const message: InboxRecord = { seq: this.#store.nextInboxSeq(), instanceId, executionId: record.executionId, event: started };
    const snapshot = { ...record };
    this.#store.defer(() => {
      this.#store.clearHistory(instanceId);
      this.#store.clearInbox(instanceId);
      this.#store.saveInstance(snapshot);
      this.#store.insertInbox(message);
    });
    const active = this.#newActive(record, [], [{ seq: message.seq, executionId: message.executionId, event: started }]);
    this.#markReady(active);
  }

  #executionStarted(
    record: InstanceRecord,
    inputJson: string | undefined,
    parent: { instanceId: string; executionId: string; taskId: number; name: string } | undefined,
    at: number,
  ): HistoryEvent {
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

  /** Drops an active instance from memory (it is being replaced or finished). */
  #retire(active: ActiveInstance): void {
    for (const timer of active.timers.values()) timer.cancel();
    active.timers.clear();
    active.inbox = [];
    this.#active.delete(active.record.instanceId);
  }

  /**
   * Adds a message to an instance's inbox (persisted with this turn) and makes it ready.
   * Messages for instances that are not running are dropped, as the extension discards them.
   */
  #deliver(instanceId: string, executionId: string | null, event: HistoryEvent): boolean {
    const active = this.#active.get(instanceId);
    if (!active) return false;
    const record: InboxRecord = { seq: this.#store.nextInboxSeq(), instanceId, executionId, event };
    active.inbox.push({ seq: record.seq, executionId, event });
    this.#store.defer(() => this.#store.insertInbox(record));
    this.#markReady(active);
    return true;
  }

  #markReady(active: ActiveInstance): void {
    if (active.ready || active.running) return;
    active.ready = true;
    this.#ready.push(active);
    this.#schedulePump();
  }

  #schedulePump(): void {
    if (this.#pumpScheduled || this.#stopping) return;
    this.#pumpScheduled = true;
    setImmediate(() => this.#pump());
  }

  /**
   * Starts episodes for ready instances. Runs on its own turn of the event loop (setImmediate),
   * so results that arrive in the same turn (a burst of fast activities) reach one episode.
   */
  #pump(): void {
    this.#pumpScheduled = false;
    while (!this.#stopping && this.#store.healthy && this.#runningEpisodes < this.#options.maxConcurrentOrchestrations) {
      const active = this.#ready.shift();
      if (!active) break;
      active.ready = false;
      if (active.running || this.#active.get(active.record.instanceId) !== active || !this.#hasRunnable(active)) continue;
      active.running = true;
      this.#runningEpisodes++;
      this.#track(
        this.#runEpisode(active)
          .catch((error: unknown) => {
            this.#logger.error(`durable: episode of ${active.record.instanceId} failed unexpectedly: ${(error as Error)?.stack ?? String(error)}`);
          })
          .finally(() => {
            active.running = false;
            this.#runningEpisodes--;
            if (this.#active.get(active.record.instanceId) === active && this.#hasRunnable(active)) this.#markReady(active);
            this.#schedulePump();
            this.#checkIdle();
          }),
      );
    }
    this.#checkIdle();
  }

  #hasRunnable(active: ActiveInstance): boolean {
    if (active.record.status !== 'Suspended') return active.inbox.length > 0;
    return active.inbox.some(
      (m) =>
        m.event.EventType === EventType.ExecutionResumed ||
        m.event.EventType === EventType.ExecutionTerminated ||
        (m.executionId !== null && m.executionId !== active.record.executionId),
    );
  }

  // ---- activities -----------------------------------------------------------------------

  #enqueueActivity(work: ActivityWork): void {
    this.#activities.push(work);
    this.#startActivities();
  }

  /** Starts queued activities up to the cap. Completions refill at once (no turn boundary). */
  #startActivities(): void {
    while (!this.#stopping && this.#store.healthy && this.#runningActivities < this.#options.maxConcurrentActivities) {
      const work = this.#activities.shift();
      if (!work) break;
      this.#runningActivities++;
      this.#track(
        this.#runActivity(work).finally(() => {
          this.#runningActivities--;
          this.#startActivities();
          this.#checkIdle();
        }),
      );
    }
  }

  async #runActivity(work: ActivityWork): Promise<void> {
    const fn = this.functions.find('activity', work.name);
    let event: HistoryEvent;
    const at = (): number => Date.now();
    if (!fn) {
      const reason = this.functions.missing('activity', work.name) ?? '';
      event = historyEvent(EventType.TaskFailed, at(), { TaskScheduledId: work.taskId, Reason: reason, Details: reason });
    } else {
      try {
        const outcome = await this.#invoke(fn, { [fn.triggerBindingName]: jsonToTypedData(work.inputJson) });
        event = historyEvent(EventType.TaskCompleted, at(), { TaskScheduledId: work.taskId, Result: typedDataToJson(outcome.returnValue) });
      } catch (error) {
        event = historyEvent(EventType.TaskFailed, at(), { TaskScheduledId: work.taskId, ...activityFailure(work.name, error) });
      }
    }
    this.stats.activities++;
    this.#deliver(work.instanceId, work.executionId, event);
  }

  // ---- timers ---------------------------------------------------------------------------

  #armTimer(active: ActiveInstance, timerId: number, fireAt: string): void {
    const executionId = active.record.executionId;
    const instanceId = active.record.instanceId;
    const due = Date.parse(fireAt);
    const handle = this.#timers.schedule(Number.isNaN(due) ? Date.now() : due, () => {
      const current = this.#active.get(instanceId);
      if (!current || current.record.executionId !== executionId) return;
      current.timers.delete(timerId);
      current.inbox.push({ seq: undefined, executionId, event: historyEvent(EventType.TimerFired, Date.now(), { TimerId: timerId, FireAt: fireAt }) });
      this.#markReady(current);
    });
    active.timers.set(timerId, handle);
  }

  // ---- episodes -------------------------------------------------------------------------

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

  async #runEpisode(active: ActiveInstance): Promise<void> {
    const { consumed, events, terminate } = this.#takeMessages(active);
    if (!terminate && consumed.length === 0) return;
    const record = active.record;
    const consumedSeqs = consumed.map((m) => m.seq).filter((s): s is number => s !== undefined);
    const lastTimestamp = active.history.length > 0 ? Date.parse((active.history[active.history.length - 1] as HistoryEvent).Timestamp) : 0;
    const now = Math.max(Date.now(), lastTimestamp);

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
    const fn = this.functions.find('orchestrator', record.name);
    let state: SdkOrchestratorState | undefined;
    let failure: string | undefined;
    if (!fn) {
      failure = this.functions.missing('orchestrator', record.name);
    } else {
      const payload = this.#payload(active, newEvents);
      this.stats.episodes++;
      try {
        const outcome = await this.#invoke(fn, { [fn.triggerBindingName]: { string: payload } });
        state = stateFromReturnValue(outcome.returnValue);
        if (!state) failure = 'The orchestrator function did not return an orchestration state.';
      } catch (error) {
        state = stateFromFailure(error);
        if (!state) failure = describeError(error);
      }
    }
    if (this.#active.get(record.instanceId) !== active) return; // replaced or purged meanwhile

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
      catalog: this.functions,
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
            this.#enqueueActivity({ instanceId: record.instanceId, executionId: record.executionId, taskId: item.id, name: item.name, inputJson: item.inputJson }),
          );
          break;
        }
        case 'timer':
          events.push(historyEvent(EventType.TimerCreated, now, { EventId: item.id, FireAt: item.fireAt }));
          effects.push(() => this.#armTimer(active, item.id, item.fireAt));
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
            this.entities.enqueue(item.entityId, queued);
          });
          break;
        }
      }
    }
    return { events, effects: () => effects.forEach((apply) => apply()) };
  }

  #startChild(parent: ActiveInstance, item: Extract<ScheduledWork, { kind: 'subOrchestration' }>): void {
    const existing = this.#active.get(item.instanceId);
    if (existing && RUNNING_STATUSES.has(existing.record.status)) {
      const reason = `An Orchestration instance with the status ${existing.record.status} already exists.`;
      this.#deliver(
        parent.record.instanceId,
        parent.record.executionId,
        historyEvent(EventType.SubOrchestrationInstanceFailed, Date.now(), { TaskScheduledId: item.id, Reason: reason, Details: reason }),
      );
      return;
    }
    if (existing) this.#retire(existing);
    this.#createInstance(item.name, item.instanceId, item.inputJson, {
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
    this.#retire(active);
    if (record.parentInstanceId !== null && record.parentTaskId !== null) {
      const event =
        status === 'Completed'
          ? historyEvent(EventType.SubOrchestrationInstanceCompleted, now, { TaskScheduledId: record.parentTaskId, Result: output })
          : historyEvent(EventType.SubOrchestrationInstanceFailed, now, {
              TaskScheduledId: record.parentTaskId,
              Reason: failure?.reason ?? output,
              Details: failure?.details ?? failure?.reason ?? output,
            });
      this.#deliver(record.parentInstanceId, record.parentExecutionId, event);
    }
    const waiters = this.#waiters.get(record.instanceId);
    if (waiters) {
      this.#waiters.delete(record.instanceId);
      // Waiters answer HTTP callers: only once the outcome is stored.
      this.#store.afterCommit(() => {
        for (const resolve of waiters) resolve({ ...record });
      });
    }
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
    const started = this.#executionStarted(record, inputJson, undefined, now);
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
    for (const timer of active.timers.values()) timer.cancel();
    active.timers.clear();
    active.record = record;
    active.history = [];
    active.playedJson = '';
    active.nextChunk = 0;
    active.inbox = [...messages.map((m) => ({ seq: m.seq, executionId: m.executionId, event: m.event })), ...active.inbox];
    this.#markReady(active);
  }

  // ---- recovery -------------------------------------------------------------------------

  #recover(): void {
    const byInstance = new Map<string, InboxMessage[]>();
    const orphans: number[] = [];
    const records = this.#store.activeInstances();
    const activeIds = new Set(records.map((r) => r.instanceId));
    for (const message of this.#store.inbox()) {
      if (!activeIds.has(message.instanceId)) {
        orphans.push(message.seq);
        continue;
      }
      const list = byInstance.get(message.instanceId) ?? [];
      list.push({ seq: message.seq, executionId: message.executionId, event: message.event });
      byInstance.set(message.instanceId, list);
    }
    if (orphans.length > 0) this.#store.defer(() => orphans.forEach((seq) => this.#store.deleteInbox(seq)));

    let activities = 0;
    let timers = 0;
    for (const record of records) {
      const history = this.#store.history(record.instanceId);
      const inbox = byInstance.get(record.instanceId) ?? [];
      const active = this.#newActive(record, history, inbox);
      active.nextChunk = this.#store.lastHistoryChunk(record.instanceId) + 1;

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
        this.#enqueueActivity({
          instanceId: record.instanceId,
          executionId: record.executionId,
          taskId: event.EventId,
          name: event.Name ?? '',
          inputJson: event.Input,
        });
      }
      for (const event of pendingTimers.values()) {
        timers++;
        this.#armTimer(active, event.EventId, event.FireAt ?? new Date().toISOString());
      }
      if (this.#hasRunnable(active)) this.#markReady(active);
    }
    if (records.length > 0) {
      this.#logger.info(`durable: resumed ${records.length} instance(s), re-queued ${activities} activity(ies) and ${timers} timer(s)`);
    }
  }
}

/** `Reason`, `Details` and (when the SDK sent structured details) `FailureDetails` of a failed activity. */
function activityFailure(name: string, error: unknown): { Reason: string; Details: string; FailureDetails?: FailureDetails } {
  const text = describeError(error);
  const stack = error instanceof Error ? error.stack : undefined;
  const result: { Reason: string; Details: string; FailureDetails?: FailureDetails } = {
    Reason: `Activity function '${name}' failed: ${text}`,
    Details: JSON.stringify({ Message: text, StackTrace: stack ?? null }),
  };
  // With an ExceptionPropertiesProvider registered, the SDK puts a JSON payload in the message.
  const message = error instanceof Error ? error.message : undefined;
  if (message?.startsWith('{')) {
    try {
      const payload = JSON.parse(message) as { errorType?: unknown; errorMessage?: unknown; stackTrace?: unknown; isNonRetriable?: unknown; properties?: unknown };
      if (typeof payload.errorType === 'string' && typeof payload.errorMessage === 'string') {
        const details: FailureDetails = { ErrorType: payload.errorType, ErrorMessage: payload.errorMessage, IsNonRetriable: payload.isNonRetriable === true };
        if (typeof payload.stackTrace === 'string') details.StackTrace = payload.stackTrace;
        if (typeof payload.properties === 'object' && payload.properties !== null) details.Properties = payload.properties as Record<string, unknown>;
        result.FailureDetails = details;
        result.Reason = `Activity function '${name}' failed: ${payload.errorType}: ${payload.errorMessage}`;
      }
    } catch {
      // not a payload
    }
  }
  return result;
}
