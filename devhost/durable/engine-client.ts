import type { DurableStore, EntityRecord, InstanceQuery, InstanceRecord } from './durable-store.js';
import { TERMINAL_STATUSES } from './durable-store.js';
import { RUNNING_STATUSES, newId, type InstanceTable } from './engine-instances.js';
import type { Clock } from '../host/clock.js';
import type { DurableFunctionIndex } from './function-catalog.js';
import { EventType, historyEvent, type HistoryEvent } from './history.js';

/**
 * The operations the durable client performs (start, raise event, terminate, suspend, resume,
 * purge, queries, wait for completion), on the instance table and the store.
 *
 * - Fails closed: every operation that changes something calls `assertWritable()` first, so
 *   while the store cannot commit it throws `StorageUnavailableError` (503) before touching
 *   memory. Reads and purges flush this turn's units first (a purge writes at once).
 * - Control messages (events, terminate, suspend, resume) go to the instance's inbox like any
 *   message; the episode that consumes them decides what they do.
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

/** What `raiseEvent`, `terminate`, `suspend` and `resume` report. */
export type InstanceOperationResult = 'accepted' | 'notFound' | 'gone';

/** Validates an instance id the way the extension's client does; returns a problem or undefined. */
export function instanceIdProblem(id: string): string | undefined {
  if (id.startsWith('@')) return 'Orchestration instance ids must not start with @.';
  // eslint-disable-next-line no-control-regex
  if (/[/\\?#\u0000-\u001f\u007f-\u009f]/.test(id)) return 'Orchestration instance ids must not contain /, \\, #, ?, or control characters.';
  if (id.length > 100) return 'Instance ID lengths must not exceed 100 characters.';
  return undefined;
}

export interface EngineClientOptions {
  store: DurableStore;
  functions: DurableFunctionIndex;
  clock: Clock;
  instances: InstanceTable;
  /** host.json `overridableExistingInstanceStates`: `AnyState` lets a start replace a running instance. */
  overridableExistingInstanceStates: 'NonRunningStates' | 'AnyState';
}

export class EngineClient {
  readonly #store: DurableStore;
  readonly #functions: DurableFunctionIndex;
  readonly #clock: Clock;
  readonly #instances: InstanceTable;
  readonly #overridable: 'NonRunningStates' | 'AnyState';

  constructor(options: EngineClientOptions) {
    this.#store = options.store;
    this.#functions = options.functions;
    this.#clock = options.clock;
    this.#instances = options.instances;
    this.#overridable = options.overridableExistingInstanceStates;
  }

  startOrchestration(name: string, requestedId: string | undefined, inputJson: string | undefined): string {
    this.#store.assertWritable();
    const fn = this.#functions.find('orchestrator', name);
    if (!fn) throw new DurableApiError(400, 'One or more of the arguments submitted is incorrect', this.#functions.missing('orchestrator', name), 'System.ArgumentException');
    const instanceId = requestedId === undefined || requestedId === '' ? newId() : requestedId;
    const problem = instanceIdProblem(instanceId);
    if (problem) throw new DurableApiError(400, 'One or more of the arguments submitted is incorrect', problem, 'System.ArgumentException');
    const existing = this.#instances.get(instanceId);
    if (existing && this.#overridable !== 'AnyState' && RUNNING_STATUSES.has(existing.record.status)) {
      throw new DurableApiError(
        500,
        'Something went wrong while processing your request',
        `An Orchestration instance with the status ${existing.record.status} already exists.`,
        'DurableTask.Core.Exceptions.OrchestrationAlreadyExistsException',
      );
    }
    if (existing) this.#instances.retire(existing);
    this.#instances.create(fn.name, instanceId, inputJson, undefined);
    return instanceId;
  }

  raiseEvent(instanceId: string, eventName: string, dataJson: string | undefined): InstanceOperationResult {
    this.#store.assertWritable();
    if (!this.#instances.get(instanceId)) return this.#store.getInstance(instanceId) ? 'gone' : 'notFound';
    const fields: Partial<HistoryEvent> = { Name: eventName };
    if (dataJson !== undefined) fields.Input = dataJson;
    this.#instances.deliver(instanceId, null, historyEvent(EventType.EventRaised, this.#clock.now(), fields));
    return 'accepted';
  }

  /** Delivers a terminate, suspend or resume message (`reason` as its input). */
  control(instanceId: string, type: number, reason: string | undefined): InstanceOperationResult {
    this.#store.assertWritable();
    if (!this.#instances.get(instanceId)) return this.#store.getInstance(instanceId) ? 'gone' : 'notFound';
    this.#instances.deliver(instanceId, null, historyEvent(type, this.#clock.now(), reason === undefined ? {} : { Input: reason }));
    return 'accepted';
  }

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

  purgeWhere(query: InstanceQuery): number {
    this.#store.flush();
    const purgeable = this.#store.queryInstances(query).filter((record) => TERMINAL_STATUSES.has(record.status));
    if (purgeable.length > 0) this.#store.writeNow(() => purgeable.forEach((record) => this.#store.deleteInstance(record.instanceId)));
    return purgeable.length;
  }

  listEntities(name: string | undefined): EntityRecord[] {
    this.#store.flush();
    return this.#store.entities(name);
  }

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

  waitForTerminal(instanceId: string, timeoutMs: number): Promise<InstanceRecord | undefined> {
    const current = this.getInstance(instanceId);
    if (!current || TERMINAL_STATUSES.has(current.status) || !this.#instances.get(instanceId)) return Promise.resolve(current);
    return this.#instances.waitForTerminal(instanceId, timeoutMs);
  }
}
