import { systemClock, type Clock } from '../host/clock.js';
import type { Invoker, RegisteredFunction } from '../host/core-types.js';
import type { DevhostLogger } from '../host/logger.js';
import { createActivityRunner } from './activity-runner.js';
import type { DurableStore, EntityRecord, InstanceQuery, InstanceRecord } from './durable-store.js';
import { EngineClient, type InstanceOperationResult } from './engine-client.js';
import { EngineDispatch } from './engine-dispatch.js';
import { InstanceTable } from './engine-instances.js';
import { recoverInstances } from './engine-recovery.js';
import { EntityScheduler } from './entity-scheduler.js';
import { EpisodeRunner } from './episode-runner.js';
import { DurableFunctionIndex } from './function-catalog.js';
import { EventType, historyEvent, type HistoryEvent } from './history.js';

export { DurableApiError, instanceIdProblem, type InstanceOperationResult } from './engine-client.js';

/**
 * The durable task engine: instances, histories, the dispatch of orchestrator episodes,
 * activities, timers and entity batches, and the operations the durable client performs.
 * This class wires the jobs together and is the one API the rest of the devhost uses:
 *
 * - `engine-client.ts`: client operations (start, raise, terminate, suspend/resume, purge, query);
 * - `engine-dispatch.ts`: ready queues, concurrency caps, idle detection, in-flight work;
 * - `episode-runner.ts` (with `activity-runner.ts`): running and committing an episode;
 * - `engine-recovery.ts`: re-deriving and re-dispatching unfinished work at start;
 * - `engine-instances.ts`: the in-memory instance table they share (inboxes, timers, waiters).
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
 * - Durable time is the injected {@link Clock}'s (default {@link systemClock}).
 * - Fails closed: while the store cannot commit, client operations throw
 *   `StorageUnavailableError` (503) before touching memory, and no episode, activity or entity
 *   batch is dispatched; work that finishes meanwhile queues its units behind the failed ones.
 *   Dispatch resumes when the store reports healthy again.
 */

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
  /** Durable time: history timestamps, timer due times, instance and entity times. Default {@link systemClock}. */
  clock?: Clock;
}

/** The engine's counters, for benchmarks and diagnostics. */
export interface EngineStats {
  /** Orchestrator invocations. */
  episodes: number;
  activities: number;
  entityBatches: number;
}

export class OrchestrationEngine {
  readonly #store: DurableStore;
  readonly #dispatch: EngineDispatch;
  readonly #instances: InstanceTable;
  readonly #client: EngineClient;
  readonly #logger: DevhostLogger;
  #started = false;
  #removeHealthListener: (() => void) | undefined;
  readonly functions: DurableFunctionIndex;
  readonly entities: EntityScheduler;
  /** The clock durable time is read from. */
  readonly clock: Clock;
  /** Counters for benchmarks and diagnostics. */
  readonly stats: EngineStats = { episodes: 0, activities: 0, entityBatches: 0 };

  constructor(options: DurableEngineOptions) {
    const { store, invoke, logger } = options;
    const clock = options.clock ?? systemClock;
    this.#store = store;
    this.#logger = logger;
    this.clock = clock;
    this.functions = new DurableFunctionIndex(options.functions);
    const functions = this.functions;

    // The parts call each other through these closures; each is assigned before any work runs.
    const dispatch: EngineDispatch = new EngineDispatch({
      store,
      logger,
      maxConcurrentOrchestrations: options.maxConcurrentOrchestrations,
      maxConcurrentActivities: options.maxConcurrentActivities,
      isRunnable: (active) => instances.isRunnable(active),
      runEpisode: (active) => episodes.run(active),
      runActivity: (work) => runActivity(work),
      entitiesIdle: () => this.entities.idle,
    });
    const instances: InstanceTable = new InstanceTable({ store, clock, markReady: (active) => dispatch.markReady(active) });
    this.entities = new EntityScheduler({
      store,
      functions,
      invoke,
      logger,
      clock,
      maxConcurrent: options.maxConcurrentEntities,
      batchSize: options.entityBatchSize,
      respond: (instanceId, executionId, requestId, responseJson) => {
        instances.deliver(instanceId, executionId ?? null, historyEvent(EventType.EventRaised, clock.now(), { Name: requestId, Input: responseJson }));
      },
      onSettled: () => {
        this.stats.entityBatches++;
        dispatch.checkIdle();
      },
    });
    const episodes: EpisodeRunner = new EpisodeRunner({ store, functions, invoke, logger, clock, instances, dispatch, entities: this.entities, stats: this.stats });
    const runActivity = createActivityRunner({
      functions,
      invoke,
      clock,
      deliver: (instanceId, executionId, event) => instances.deliver(instanceId, executionId, event),
      onRun: () => this.stats.activities++,
    });
    this.#dispatch = dispatch;
    this.#instances = instances;
    this.#client = new EngineClient({ store, functions, clock, instances, overridableExistingInstanceStates: options.overridableExistingInstanceStates });
  }

  // ---- lifecycle ------------------------------------------------------------------------

  /** Loads unfinished work from the store and starts dispatching. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#removeHealthListener = this.#store.onHealthChange((healthy) => {
      if (!healthy || this.#dispatch.stopping) return;
      this.#dispatch.resume();
      this.entities.resume();
    });
    recoverInstances({ store: this.#store, logger: this.#logger, clock: this.clock, instances: this.#instances, dispatch: this.#dispatch });
    this.entities.recover();
    this.#dispatch.schedulePump();
  }

  /**
   * Stops dispatching and waits (up to `graceMs` of real time) for in-flight invocations, then
   * commits what they produced. Work still running after that is redone after a restart.
   */
  async stop(graceMs = 5000): Promise<void> {
    this.#dispatch.stop();
    this.#removeHealthListener?.();
    this.entities.stop();
    this.#instances.stopTimers();
    await this.#dispatch.drain(graceMs);
    try {
      this.#store.flush();
    } catch {
      // The store logged what it could not commit; none of it was acknowledged.
    }
    this.#dispatch.releaseIdleWaiters();
    this.#instances.releaseWaiters();
  }

  /** Resolves when nothing is runnable: no queued or running episodes, activities or entity batches (timers may be pending). */
  whenIdle(): Promise<void> {
    return this.#dispatch.whenIdle();
  }

  /**
   * How many instances the engine holds in memory: the unfinished ones only. A finished instance
   * is retired at once, so memory does not grow with the number of runs the store holds.
   */
  get liveInstances(): number {
    return this.#instances.size;
  }

  // ---- client operations ----------------------------------------------------------------

  /**
   * Starts an orchestration (the client's `startNew`). Throws {@link DurableApiError} for an
   * unknown function (400), a bad instance id (400) or an id that is still running (500, as the
   * extension reports `OrchestrationAlreadyExistsException`).
   */
  startOrchestration(name: string, requestedId: string | undefined, inputJson: string | undefined): string {
    return this.#client.startOrchestration(name, requestedId, inputJson);
  }

  /** Raises an external event (`dataJson` is JSON text). */
  raiseEvent(instanceId: string, eventName: string, dataJson: string | undefined): InstanceOperationResult {
    return this.#client.raiseEvent(instanceId, eventName, dataJson);
  }

  terminate(instanceId: string, reason: string | undefined): InstanceOperationResult {
    return this.#client.control(instanceId, EventType.ExecutionTerminated, reason);
  }

  suspend(instanceId: string, reason: string | undefined): InstanceOperationResult {
    return this.#client.control(instanceId, EventType.ExecutionSuspended, reason);
  }

  resume(instanceId: string, reason: string | undefined): InstanceOperationResult {
    return this.#client.control(instanceId, EventType.ExecutionResumed, reason);
  }

  /** Deletes an instance and its history. Only terminal instances can be purged. */
  purge(instanceId: string): number {
    return this.#client.purge(instanceId);
  }

  /** Purges the terminal instances matching `query`; returns how many. */
  purgeWhere(query: InstanceQuery): number {
    return this.#client.purgeWhere(query);
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
    return this.#client.listEntities(name);
  }

  /** The stored instance, with this turn's changes committed first. */
  getInstance(instanceId: string): InstanceRecord | undefined {
    return this.#client.getInstance(instanceId);
  }

  history(instanceId: string): HistoryEvent[] {
    return this.#client.history(instanceId);
  }

  query(query: InstanceQuery): InstanceRecord[] {
    return this.#client.query(query);
  }

  /**
   * Resolves with the instance once it is Completed, Failed or Terminated, or `undefined` after
   * `timeoutMs` of real time (a caller's wait, not durable time: it runs out on any clock).
   */
  waitForTerminal(instanceId: string, timeoutMs: number): Promise<InstanceRecord | undefined> {
    return this.#client.waitForTerminal(instanceId, timeoutMs);
  }
}
