import { EventType, type HistoryEvent } from './history.js';
import { actionInputToJson, lazyActionInput, type LazyJson } from './json-text.js';
import { ActionType, type SdkAction, type SdkRetryOptions } from './orchestrator-state.js';

/**
 * Decides what an orchestrator episode scheduled, the way the Durable extension does for
 * out-of-proc languages.
 *
 * The SDK returns the whole list of actions its code has issued, without task ids. The real
 * extension replays that list through DurableTask.Core (`OutOfProcOrchestrationShim`, schema V2+):
 * top-level actions are issued one after another, each awaited before the next, while the
 * history is processed in order; compound actions (`Task.all` / `Task.any`) issue all their
 * children at once. Every activity, timer, sub-orchestration and entity message takes the next
 * task id when issued; a retried call issues attempt, retry timer, attempt, ... each with its
 * own id (and one immediate timer after the last failed attempt, as DurableTask's
 * `RetryInterceptor` does). History events are matched by id against what the replay issued;
 * anything issued but not yet in the history is new work. A mismatch is a non-determinism
 * failure naming both sides.
 *
 * This module is pure: no I/O, no clock (time comes from `OrchestratorStarted` events).
 */

export type FunctionKind = 'activity' | 'orchestrator' | 'entity';

/** Looks functions up by kind, as the extension's `ThrowIfFunctionDoesNotExist`. */
export interface FunctionCatalog {
  /** An error message when `name` is not a registered function of `kind`; otherwise `undefined`. */
  missing(kind: FunctionKind, name: string): string | undefined;
}

/** Work the episode scheduled, with the task id it took. */
export type ScheduledWork =
  | { kind: 'activity'; id: number; name: string; inputJson: string | undefined }
  | { kind: 'timer'; id: number; fireAt: string }
  | { kind: 'subOrchestration'; id: number; name: string; instanceId: string; inputJson: string | undefined }
  | {
      kind: 'entityMessage';
      id: number;
      /** Scheduler id, `@name@key`. */
      entityId: string;
      operation: string;
      inputJson: string | undefined;
      signal: boolean;
    };

export interface ReplayInput {
  instanceId: string;
  executionId: string;
  parentInstanceId: string | undefined;
  /** The full history of this execution, including this episode's new events. */
  history: readonly HistoryEvent[];
  /** `actions[0]` of the SDK's state. */
  actions: readonly SdkAction[];
  catalog: FunctionCatalog;
}

export interface ReplayOutcome {
  /** Issued but not yet in the history, in task-id order. */
  newWork: ScheduledWork[];
  /** The history does not match the code: fail the instance with this reason. */
  nonDeterminism?: string;
  /** An action could not be issued (unknown function, bad instance id, unsupported API). */
  invalidAction?: string;
  /** Every top-level action was issued and completed; the extension's shim has returned. */
  shimCompleted: boolean;
  /** Activities, timers (not cancelled) and sub-orchestrations still without a result. */
  openTasks: number;
  continueAsNew?: { inputJson: string | undefined; carryOver: HistoryEvent[] };
}

class NonDeterminismError extends Error {
  override readonly name = 'NonDeterminismError';
}

class InvalidActionError extends Error {
  override readonly name = 'InvalidActionError';
}

/** A synchronous stand-in for a .NET task: continuations run inline when it settles. */
class SimTask {
  done = false;
  ok = false;
  readonly #continuations: (() => void)[] = [];

  settle(ok: boolean): void {
    if (this.done) return;
    this.done = true;
    this.ok = ok;
    for (const continuation of this.#continuations.splice(0)) continuation();
  }

  then(continuation: () => void): void {
    if (this.done) continuation();
    else this.#continuations.push(continuation);
  }

  static settled(ok: boolean): SimTask {
    const task = new SimTask();
    task.settle(ok);
    return task;
  }
}

const NON_DETERMINISM_PREFIX = 'Non-Deterministic workflow detected: ';
const CODE_CHANGED = 'Was a change made to the orchestrator code after this instance had already started running?';

/** Delay before retry number `retryCount + 1` (0-based count of failures so far), in ms. */
export function retryDelayMs(options: SdkRetryOptions, retryCount: number): number {
  const first = options.firstRetryIntervalInMilliseconds;
  const backoff = options.backoffCoefficient ?? 1;
  const delay = first * Math.pow(backoff, retryCount);
  const max = options.maxRetryIntervalInMilliseconds;
  return max !== undefined && max > 0 && delay > max ? max : delay;
}

function describeWork(work: ScheduledWork): string {
  switch (work.kind) {
    case 'activity':
      return `an activity task named '${work.name}'`;
    case 'timer':
      return 'a timer';
    case 'subOrchestration':
      return `a sub-orchestration named '${work.name}'`;
    case 'entityMessage':
      return `an entity ${work.signal ? 'signal' : 'call'} '${work.operation}' to '${work.entityId}'`;
  }
}

function describeScheduledEvent(event: HistoryEvent): string {
  const id = event.EventId;
  switch (event.EventType) {
    case EventType.TaskScheduled:
      return `an activity task with sequence number ${id} named '${event.Name ?? ''}'`;
    case EventType.TimerCreated:
      return `a timer with sequence number ${id}`;
    case EventType.SubOrchestrationInstanceCreated:
      return `a sub-orchestration with sequence number ${id} named '${event.Name ?? ''}' (instance ID '${event.InstanceId ?? ''}')`;
    default:
      return `an entity message with sequence number ${id} to '${event.InstanceId ?? ''}'`;
  }
}

const KIND_OF_EVENT: ReadonlyMap<number, ScheduledWork['kind']> = new Map([
  [EventType.TaskScheduled, 'activity'],
  [EventType.TimerCreated, 'timer'],
  [EventType.SubOrchestrationInstanceCreated, 'subOrchestration'],
  [EventType.EventSent, 'entityMessage'],
]);

function sameName(a: string | undefined, b: string | undefined): boolean {
  return (a ?? '').toLowerCase() === (b ?? '').toLowerCase();
}

/** The entity name in a scheduler id `@name@key`. */
export function entityNameOf(schedulerId: string): string {
  const at = schedulerId.indexOf('@', 1);
  return at < 0 ? schedulerId.slice(1) : schedulerId.slice(1, at);
}

class ShimReplay {
  #nextId = 0;
  #now = 0;
  #topLevel = 0;
  #started = false;
  shimCompleted = false;
  readonly pending = new Map<number, ScheduledWork>();
  readonly open = new Map<number, SimTask>();
  readonly #entityCalls = new Map<number, SimTask>();
  /** Waiters per event name; the most recent waiter gets the next event (a stack, as in the extension). */
  readonly #waiters = new Map<string, SimTask[]>();
  /** Events that arrived with nobody waiting, per name. */
  readonly #buffered = new Map<string, number>();
  continueAsNew: { inputJson: string | undefined } | undefined;
  readonly carryOver: HistoryEvent[] = [];

  constructor(private readonly input: ReplayInput) {}

  run(): void {
    for (const event of this.input.history) this.#process(event);
  }

  #process(event: HistoryEvent): void {
    switch (event.EventType) {
      case EventType.OrchestratorStarted:
        this.#now = Date.parse(event.Timestamp);
        return;
      case EventType.ExecutionStarted:
        if (!this.#started) {
          this.#started = true;
          this.#runShim();
        }
        return;
      case EventType.TaskScheduled:
      case EventType.TimerCreated:
      case EventType.SubOrchestrationInstanceCreated:
      case EventType.EventSent:
        this.#match(event);
        return;
      case EventType.TaskCompleted:
      case EventType.SubOrchestrationInstanceCompleted:
        this.#complete(event.TaskScheduledId, true);
        return;
      case EventType.TaskFailed:
      case EventType.SubOrchestrationInstanceFailed:
        this.#complete(event.TaskScheduledId, false);
        return;
      case EventType.TimerFired:
        this.#complete(event.TimerId, true);
        return;
      case EventType.EventRaised:
        if (this.continueAsNew) this.carryOver.push(event);
        else this.#raise(event.Name ?? '');
        return;
      default:
        return;
    }
  }

  #runShim(): void {
    const actions = this.input.actions;
    const step = (): void => {
      while (this.#topLevel < actions.length) {
        const action = actions[this.#topLevel++] as SdkAction;
        const task = this.#issue(action);
        if (!task.done) {
          task.then(step);
          return;
        }
      }
      this.shimCompleted = true;
    };
    step();
  }

  #match(event: HistoryEvent): void {
    const expected = describeScheduledEvent(event);
    const work = this.pending.get(event.EventId);
    if (!work) {
      throw new NonDeterminismError(
        `${NON_DETERMINISM_PREFIX}A previous execution of this orchestration scheduled ${expected}, but the current replay execution hasn't (yet?) scheduled this task. ${CODE_CHANGED}`,
      );
    }
    const kind = KIND_OF_EVENT.get(event.EventType);
    const nameMatches =
      work.kind === 'activity' || work.kind === 'subOrchestration'
        ? sameName(work.name, event.Name)
        : work.kind === 'entityMessage'
          ? sameName(work.entityId, event.InstanceId)
          : true;
    if (work.kind !== kind || !nameMatches) {
      throw new NonDeterminismError(
        `${NON_DETERMINISM_PREFIX}A previous execution of this orchestration scheduled ${expected}, but the current orchestration replay instead scheduled ${describeWork(work)} with this sequence number. ${CODE_CHANGED}`,
      );
    }
    this.pending.delete(event.EventId);
    if (work.kind === 'entityMessage' && !work.signal) {
      const call = this.#entityCalls.get(work.id);
      const requestId = requestIdOf(event.Input);
      if (call && requestId) this.#waitWith(requestId, call);
    }
  }

  #complete(taskId: number | undefined, ok: boolean): void {
    if (taskId === undefined) return;
    const task = this.open.get(taskId);
    if (!task) return; // a duplicate, or a cancelled timer: ignored, as DurableTask does
    this.open.delete(taskId);
    task.settle(ok);
  }

  #raise(name: string): void {
    const stack = this.#waiters.get(name);
    const waiter = stack?.pop();
    if (stack && stack.length === 0) this.#waiters.delete(name);
    if (waiter) waiter.settle(true);
    else this.#buffered.set(name, (this.#buffered.get(name) ?? 0) + 1);
  }

  #waitWith(name: string, task: SimTask): void {
    const stack = this.#waiters.get(name) ?? [];
    stack.push(task);
    this.#waiters.set(name, stack);
    const buffered = this.#buffered.get(name) ?? 0;
    if (buffered > 0) {
      if (buffered === 1) this.#buffered.delete(name);
      else this.#buffered.set(name, buffered - 1);
      this.#raise(name);
    }
  }

  #require(kind: FunctionKind, name: string | undefined): string {
    if (typeof name !== 'string' || name.trim() === '') {
      throw new InvalidActionError(`An action of kind '${kind}' has no function name.`);
    }
    const problem = this.input.catalog.missing(kind, name);
    if (problem) throw new InvalidActionError(problem);
    return name;
  }

  #take(work: ScheduledWork, task: SimTask | undefined): void {
    this.pending.set(work.id, work);
    if (task) this.open.set(work.id, task);
  }

  #createTimer(fireAt: string, canceled: boolean): SimTask {
    const task = new SimTask();
    const id = this.#nextId++;
    this.#take({ kind: 'timer', id, fireAt }, task);
    if (canceled) {
      this.open.delete(id);
      task.settle(false);
    }
    return task;
  }

  // Inputs are encoded only if the work turns out to be new: replayed work already has its
  // TaskScheduled event, and encoding every input of the whole action list each episode cost
  // O(history) per episode.
  #scheduleActivity(name: string, input: LazyJson): SimTask {
    const task = new SimTask();
    this.#take(
      {
        kind: 'activity',
        id: this.#nextId++,
        name,
        get inputJson() {
          return input();
        },
      },
      task,
    );
    return task;
  }

  #scheduleSubOrchestration(name: string, explicitId: string | undefined, input: LazyJson): SimTask {
    const task = new SimTask();
    const id = this.#nextId++;
    const instanceId = explicitId ?? `${this.input.executionId}:${id}`;
    this.#take(
      {
        kind: 'subOrchestration',
        id,
        name,
        instanceId,
        get inputJson() {
          return input();
        },
      },
      task,
    );
    return task;
  }

  #withRetry(options: SdkRetryOptions | undefined, attempt: () => SimTask): SimTask {
    if (!options || typeof options.firstRetryIntervalInMilliseconds !== 'number') {
      throw new InvalidActionError('A retried call has no valid retryOptions.');
    }
    const result = new SimTask();
    const maxAttempts = Math.max(1, Math.floor(options.maxNumberOfAttempts) || 1);
    let retryCount = 0;
    const run = (): void => {
      const current = attempt();
      current.then(() => {
        if (current.ok) return result.settle(true);
        if (retryCount + 1 >= maxAttempts) {
          // DurableTask keeps one immediate timer after the last attempt for replay compatibility.
          this.#createTimer(new Date(this.#now).toISOString(), false).then(() => result.settle(false));
          return;
        }
        const delay = retryDelayMs(options, retryCount);
        retryCount++;
        this.#createTimer(new Date(this.#now + delay).toISOString(), false).then(run);
      });
    };
    run();
    return result;
  }

  #subOrchestrationId(action: SdkAction): string | undefined {
    const id = action.instanceId;
    if (id === undefined || id === null || id === '') return undefined;
    if (id.startsWith('@')) throw new InvalidActionError('Orchestration instance ids must not start with @.');
    const self = this.input.instanceId.toLowerCase();
    if (id.toLowerCase() === self || (this.input.parentInstanceId !== undefined && id.toLowerCase() === this.input.parentInstanceId.toLowerCase())) {
      throw new InvalidActionError('The instance ID of a sub-orchestration must be different than the instance ID of a parent orchestration.');
    }
    return id;
  }

  #entityMessage(action: SdkAction, signal: boolean): SimTask {
    const entityId = action.instanceId;
    if (typeof entityId !== 'string' || !entityId.startsWith('@')) {
      throw new InvalidActionError(`An entity action has an invalid entity id '${String(entityId)}'.`);
    }
    this.#require('entity', entityNameOf(entityId));
    const operation = action.operation ?? '';
    const id = this.#nextId++;
    this.#take({ kind: 'entityMessage', id, entityId, operation, inputJson: actionInputToJson(action.input, false), signal }, undefined);
    if (signal) return SimTask.settled(true);
    const task = new SimTask();
    this.#entityCalls.set(id, task);
    return task;
  }

  #issue(action: SdkAction): SimTask {
    switch (action.actionType) {
      case ActionType.CallActivity: {
        const name = this.#require('activity', action.functionName);
        return this.#scheduleActivity(name, lazyActionInput(action.input, true));
      }
      case ActionType.CallActivityWithRetry: {
        const name = this.#require('activity', action.functionName);
        const input = lazyActionInput(action.input, true);
        return this.#withRetry(action.retryOptions, () => this.#scheduleActivity(name, input));
      }
      case ActionType.CallSubOrchestrator: {
        const name = this.#require('orchestrator', action.functionName);
        const explicitId = this.#subOrchestrationId(action);
        return this.#scheduleSubOrchestration(name, explicitId, lazyActionInput(action.input, false));
      }
      case ActionType.CallSubOrchestratorWithRetry: {
        const name = this.#require('orchestrator', action.functionName);
        const explicitId = this.#subOrchestrationId(action);
        const input = lazyActionInput(action.input, false);
        return this.#withRetry(action.retryOptions, () => this.#scheduleSubOrchestration(name, explicitId, input));
      }
      case ActionType.ContinueAsNew:
        this.continueAsNew = { inputJson: actionInputToJson(action.input, true) };
        return SimTask.settled(true);
      case ActionType.CreateTimer: {
        const fireAt = typeof action.fireAt === 'string' ? action.fireAt : '';
        if (Number.isNaN(Date.parse(fireAt))) throw new InvalidActionError(`A timer has an invalid fireAt '${String(action.fireAt)}'.`);
        return this.#createTimer(fireAt, action.isCanceled === true);
      }
      case ActionType.WaitForExternalEvent: {
        const task = new SimTask();
        this.#waitWith(action.externalEventName ?? '', task);
        return task;
      }
      case ActionType.CallEntity:
        return this.#entityMessage(action, false);
      case ActionType.SignalEntity:
        return this.#entityMessage(action, true);
      case ActionType.WhenAll: {
        const children = (action.compoundActions ?? []).map((child) => this.#issue(child));
        const task = new SimTask();
        let remaining = children.length;
        if (remaining === 0) task.settle(true);
        for (const child of children) {
          child.then(() => {
            remaining--;
            if (remaining === 0) task.settle(children.every((c) => c.ok));
          });
        }
        return task;
      }
      case ActionType.WhenAny: {
        const children = (action.compoundActions ?? []).map((child) => this.#issue(child));
        const task = new SimTask();
        for (const child of children) child.then(() => task.settle(child.ok));
        return task;
      }
      case ActionType.CallHttp:
        throw new InvalidActionError('callHttp (durable HTTP) is not supported by the devhost; call HTTP APIs from an activity.');
      case ActionType.LockEntities:
      case ActionType.ReleaseEntities:
        throw new InvalidActionError('Entity locks (critical sections) are not supported by the devhost.');
      default:
        throw new InvalidActionError(`Received an unexpected action type from the out-of-proc function: '${String(action.actionType)}'.`);
    }
  }
}

function requestIdOf(input: string | undefined): string | undefined {
  if (input === undefined) return undefined;
  try {
    const parsed = JSON.parse(input) as { id?: unknown };
    return typeof parsed.id === 'string' ? parsed.id : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Replays one episode's action list against the execution's history and returns the new work,
 * whether the extension's shim has finished, the open tasks and any non-determinism.
 */
export function replayActions(input: ReplayInput): ReplayOutcome {
  const replay = new ShimReplay(input);
  let nonDeterminism: string | undefined;
  let invalidAction: string | undefined;
  try {
    replay.run();
  } catch (error) {
    if (error instanceof NonDeterminismError) nonDeterminism = error.message;
    else if (error instanceof InvalidActionError) invalidAction = error.message;
    else throw error;
  }
  const outcome: ReplayOutcome = {
    newWork: [...replay.pending.values()].sort((a, b) => a.id - b.id),
    shimCompleted: replay.shimCompleted,
    openTasks: replay.open.size,
  };
  if (nonDeterminism !== undefined) outcome.nonDeterminism = nonDeterminism;
  if (invalidAction !== undefined) outcome.invalidAction = invalidAction;
  if (replay.continueAsNew) outcome.continueAsNew = { inputJson: replay.continueAsNew.inputJson, carryOver: replay.carryOver };
  return outcome;
}
