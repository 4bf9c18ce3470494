import { randomUUID } from 'node:crypto';
import type { Clock } from '../host/clock.js';
import type { Invoker } from '../host/core-types.js';
import type { DevhostLogger } from '../host/logger.js';
import { entityNameOf } from './action-replay.js';
import type { DurableStore, EntityRecord, EntityRequest, EntityRequestRecord } from './durable-store.js';
import type { DurableFunctionIndex } from './function-catalog.js';
import { typedDataToValue } from './json-text.js';
import { describeError } from './orchestrator-state.js';

/**
 * Runs durable entities with the extension's out-of-proc batch protocol: the entity function
 * gets `{self, exists, state, batch: [{name, input, isSignal}]}` and returns
 * `{entityExists, entityState, results: [{isError, result}], signals: [{target, name, input}]}`.
 * Requests to one entity run in arrival order, one batch at a time; calls are answered by
 * raising an event named after the request id on the caller, carrying `{result, exceptionType?}`.
 * Locks (critical sections) are not supported.
 */

interface EntityBatchResult {
  entityExists?: boolean;
  entityState?: string | null;
  results?: { isError?: boolean; result?: string }[];
  signals?: { target?: { name?: string; key?: string }; name?: string; input?: string }[];
}

interface EntityRuntime {
  record: EntityRecord;
  queue: EntityRequestRecord[];
  running: boolean;
  ready: boolean;
}

export interface EntitySchedulerOptions {
  store: DurableStore;
  functions: DurableFunctionIndex;
  invoke: Invoker;
  logger: DevhostLogger;
  /** Entity times (`updatedAt`, the API's `lastOperationTime`). */
  clock: Clock;
  maxConcurrent: number;
  batchSize: number;
  /** Delivers a call's response to the calling orchestration. */
  respond(instanceId: string, executionId: string | undefined, requestId: string, responseJson: string): void;
  /** Called when the scheduler may have become idle. */
  onSettled(): void;
}

/** `@name@key` with the name lower-cased, as the extension's scheduler ids. */
export function entitySchedulerId(name: string, key: string): string {
  return `@${name.toLowerCase()}@${key}`;
}

export class EntityScheduler {
  readonly #options: EntitySchedulerOptions;
  readonly #entities = new Map<string, EntityRuntime>();
  readonly #ready: EntityRuntime[] = [];
  #running = 0;
  #pumpScheduled = false;
  #stopped = false;

  constructor(options: EntitySchedulerOptions) {
    this.#options = options;
  }

  /** Loads queued requests left from a previous run. */
  recover(): void {
    for (const record of this.#options.store.entityQueue()) {
      const entity = this.#runtime(record.entityId);
      entity.queue.push(record);
      this.#markReady(entity);
    }
  }

  get idle(): boolean {
    return this.#running === 0 && this.#ready.length === 0;
  }

  stop(): void {
    this.#stopped = true;
  }

  /** Restarts dispatch after the store became writable again (batches wait while it is not). */
  resume(): void {
    for (const entity of this.#entities.values()) this.#markReady(entity);
    this.#schedulePump();
  }

  #schedulePump(): void {
    if (!this.#pumpScheduled && this.#ready.length > 0) {
      this.#pumpScheduled = true;
      setImmediate(() => this.#pump());
    }
  }

  /** Queues an operation (persisted with this turn's changes). */
  enqueue(entityId: string, request: EntityRequest): void {
    const record: EntityRequestRecord = { seq: this.#options.store.nextEntitySeq(), entityId, request };
    this.#options.store.defer(() => this.#options.store.insertEntityRequest(record));
    const entity = this.#runtime(entityId);
    entity.queue.push(record);
    this.#markReady(entity);
  }

  /** A client signal: `op` with JSON-text input. */
  signal(name: string, key: string, op: string, inputJson: string | undefined): void {
    this.#options.store.assertWritable();
    const request: EntityRequest = { id: randomUUID(), op, signal: true };
    if (inputJson !== undefined) request.input = inputJson;
    this.enqueue(entitySchedulerId(name, key), request);
  }

  /** The stored state of an entity (after flushing). */
  read(name: string, key: string): EntityRecord | undefined {
    const id = entitySchedulerId(name, key);
    return this.#entities.get(id)?.record ?? this.#options.store.getEntity(id);
  }

  #runtime(entityId: string): EntityRuntime {
    let entity = this.#entities.get(entityId);
    if (!entity) {
      const at = entityId.indexOf('@', 1);
      const record = this.#options.store.getEntity(entityId) ?? {
        entityId,
        name: entityNameOf(entityId),
        key: at < 0 ? '' : entityId.slice(at + 1),
        exists: false,
        state: null,
        updatedAt: this.#options.clock.now(),
      };
      entity = { record, queue: [], running: false, ready: false };
      this.#entities.set(entityId, entity);
    }
    return entity;
  }

  #markReady(entity: EntityRuntime): void {
    if (entity.ready || entity.running || entity.queue.length === 0) return;
    entity.ready = true;
    this.#ready.push(entity);
    this.#schedulePump();
  }

  #pump(): void {
    this.#pumpScheduled = false;
    while (!this.#stopped && this.#options.store.healthy && this.#running < this.#options.maxConcurrent && this.#ready.length > 0) {
      const entity = this.#ready.shift() as EntityRuntime;
      entity.ready = false;
      if (entity.queue.length === 0) continue;
      entity.running = true;
      this.#running++;
      void this.#runBatch(entity).finally(() => {
        entity.running = false;
        this.#running--;
        this.#markReady(entity);
        this.#options.onSettled();
      });
    }
  }

  async #runBatch(entity: EntityRuntime): Promise<void> {
    const { store, functions, logger } = this.#options;
    const batch = entity.queue.slice(0, this.#options.batchSize);
    const fn = functions.find('entity', entity.record.name);
    let result: EntityBatchResult;
    if (!fn) {
      const reason = functions.missing('entity', entity.record.name) ?? 'unknown entity';
      logger.warn(`durable: ${batch.length} operation(s) for ${entity.record.entityId} dropped: ${reason}`);
      result = { entityExists: entity.record.exists, entityState: entity.record.state, results: batch.map(() => ({ isError: true, result: JSON.stringify(reason) })) };
    } else {
      const trigger = {
        self: { name: entity.record.name, key: entity.record.key },
        exists: entity.record.exists,
        state: entity.record.state ?? undefined,
        batch: batch.map((r) => ({ name: r.request.op, input: r.request.input, isSignal: r.request.signal, id: r.request.id })),
      };
      try {
        const outcome = await this.#options.invoke(fn, { [fn.triggerBindingName]: { string: JSON.stringify(trigger) } });
        result = (typedDataToValue(outcome.returnValue) ?? {}) as EntityBatchResult;
      } catch (error) {
        // The whole batch failed: the state is unchanged and every operation reports the error.
        result = {
          entityExists: entity.record.exists,
          entityState: entity.record.state,
          results: batch.map(() => ({ isError: true, result: JSON.stringify(describeError(error)) })),
        };
      }
    }
    if (this.#stopped) return;

    const exists = result.entityExists === true;
    entity.record = {
      ...entity.record,
      exists,
      state: exists ? (typeof result.entityState === 'string' ? result.entityState : null) : null,
      updatedAt: this.#options.clock.now(),
    };
    entity.queue.splice(0, batch.length);
    const saved = { ...entity.record };
    const done = batch.map((r) => r.seq);
    store.defer(() => {
      store.saveEntity(saved);
      for (const seq of done) store.deleteEntityRequest(seq);
    });

    batch.forEach((record, i) => {
      const { request } = record;
      const outcome = result.results?.[i] ?? { isError: true, result: JSON.stringify('The entity returned no result for this operation.') };
      if (outcome.isError) logger.debug(`durable: entity ${entity.record.entityId} operation '${request.op}' failed: ${outcome.result ?? ''}`);
      if (request.signal || request.parent === undefined) return;
      const response: { result?: string; exceptionType?: string } = {};
      if (typeof outcome.result === 'string') response.result = outcome.result;
      if (outcome.isError) response.exceptionType = 'Error';
      this.#options.respond(request.parent, request.parentExecution, request.id, JSON.stringify(response));
    });

    for (const signal of result.signals ?? []) {
      const name = signal.target?.name;
      const key = signal.target?.key;
      if (typeof name !== 'string' || typeof key !== 'string' || typeof signal.name !== 'string') continue;
      const request: EntityRequest = { id: randomUUID(), op: signal.name, signal: true };
      if (typeof signal.input === 'string' && signal.input !== '') request.input = signal.input;
      this.enqueue(entitySchedulerId(name, key), request);
    }
  }
}
