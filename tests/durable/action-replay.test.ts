import { describe, expect, it } from 'vitest';
import { replayActions, retryDelayMs, type FunctionCatalog } from '../../devhost/durable/action-replay.js';
import { EventType, historyEvent, type HistoryEvent } from '../../devhost/durable/history.js';
import { ActionType, type SdkAction } from '../../devhost/durable/orchestrator-state.js';

/** Pure tests of task-id numbering and non-determinism detection, with hand-built histories. */

const catalog: FunctionCatalog = {
  missing: (kind, name) => (name.startsWith('missing') ? `The function '${name}' doesn't exist (${kind})` : undefined),
};
const T0 = Date.parse('2024-01-01T00:00:00Z');
const at = (s: number): number => T0 + s * 1000;

const activity = (name: string, input?: unknown): SdkAction => ({ actionType: ActionType.CallActivity, functionName: name, input });
const retried = (name: string, attempts: number): SdkAction => ({
  actionType: ActionType.CallActivityWithRetry,
  functionName: name,
  retryOptions: { firstRetryIntervalInMilliseconds: 1000, maxNumberOfAttempts: attempts, backoffCoefficient: 2 },
});
const timer = (fireAt: number, isCanceled = false): SdkAction => ({ actionType: ActionType.CreateTimer, fireAt: new Date(fireAt).toISOString(), isCanceled });
const waitFor = (name: string): SdkAction => ({ actionType: ActionType.WaitForExternalEvent, externalEventName: name });
const all = (...compoundActions: SdkAction[]): SdkAction => ({ actionType: ActionType.WhenAll, compoundActions });
const any = (...compoundActions: SdkAction[]): SdkAction => ({ actionType: ActionType.WhenAny, compoundActions });

const started = (s: number): HistoryEvent[] => [historyEvent(EventType.OrchestratorStarted, at(s)), historyEvent(EventType.ExecutionStarted, at(s), { Name: 'orch' })];
const episode = (s: number): HistoryEvent => historyEvent(EventType.OrchestratorStarted, at(s));
const scheduled = (id: number, name: string, s = 0): HistoryEvent => historyEvent(EventType.TaskScheduled, at(s), { EventId: id, Name: name });
const completed = (id: number, s = 0): HistoryEvent => historyEvent(EventType.TaskCompleted, at(s), { TaskScheduledId: id, Result: 'null' });
const failed = (id: number, s = 0): HistoryEvent => historyEvent(EventType.TaskFailed, at(s), { TaskScheduledId: id, Reason: 'boom', Details: '' });
const timerCreated = (id: number, s = 0): HistoryEvent => historyEvent(EventType.TimerCreated, at(s), { EventId: id, FireAt: new Date(at(s)).toISOString() });
const timerFired = (id: number, s = 0): HistoryEvent => historyEvent(EventType.TimerFired, at(s), { TimerId: id });
const raised = (name: string, s = 0): HistoryEvent => historyEvent(EventType.EventRaised, at(s), { Name: name, Input: '1' });

const replay = (history: HistoryEvent[], actions: SdkAction[]) => replayActions({ instanceId: 'i1', executionId: 'e1', parentInstanceId: undefined, history, actions, catalog });
const ids = (outcome: ReturnType<typeof replay>) => outcome.newWork.map((w) => `${w.kind}:${w.id}`);

describe('task-id numbering', () => {
  it('numbers a first episode in order, compound children depth-first', () => {
    const outcome = replay(started(0), [all(activity('a'), activity('b'), any(timer(at(5)), waitFor('x')))]);
    expect(ids(outcome)).toEqual(['activity:0', 'activity:1', 'timer:2']);
    expect(outcome.shimCompleted).toBe(false);
  });

  it('issues the next top-level action only after the previous one completed', () => {
    const history = [...started(0), scheduled(0, 'a'), episode(1), completed(0, 1)];
    const outcome = replay(history, [activity('a'), activity('b')]);
    expect(ids(outcome)).toEqual(['activity:1']);
  });

  it('gives a retried call attempt, timer, attempt ids, then the next call', () => {
    const actions = [retried('flaky', 3), activity('next')];
    const history = [
      ...started(0),
      scheduled(0, 'flaky'),
      episode(1),
      failed(0, 1),
      timerCreated(1, 1),
      episode(2),
      timerFired(1, 2),
      scheduled(2, 'flaky', 2),
      episode(3),
      completed(2, 3),
    ];
    expect(ids(replay(history, actions))).toEqual(['activity:3']);
    // without the success: the failure schedules the second attempt's timer after 1 s * 2^0
    const afterFirstFailure = replay(history.slice(0, 5), actions);
    expect(afterFirstFailure.newWork).toEqual([{ kind: 'timer', id: 1, fireAt: new Date(at(1) + 1000).toISOString() }]);
  });

  it('adds one immediate timer after the last failed attempt before failing', () => {
    const actions = [retried('flaky', 1), activity('next')];
    const outcome = replay([...started(0), scheduled(0, 'flaky'), episode(1), failed(0, 1)], actions);
    expect(outcome.newWork).toEqual([{ kind: 'timer', id: 1, fireAt: new Date(at(1)).toISOString() }]);
    const done = replay([...started(0), scheduled(0, 'flaky'), episode(1), failed(0, 1), timerCreated(1, 1), episode(2), timerFired(1, 2)], actions);
    expect(ids(done)).toEqual(['activity:2']);
  });

  it('interleaves retry ids with parallel work in history order', () => {
    const actions = [all(retried('flaky', 2), activity('other'))];
    const history = [...started(0), scheduled(0, 'flaky'), scheduled(1, 'other'), episode(1), failed(0, 1)];
    expect(ids(replay(history, actions))).toEqual(['timer:2']);
  });

  it('computes exponential backoff with a cap', () => {
    const options = { firstRetryIntervalInMilliseconds: 100, maxNumberOfAttempts: 5, backoffCoefficient: 2, maxRetryIntervalInMilliseconds: 300 };
    expect([0, 1, 2, 3].map((n) => retryDelayMs(options, n))).toEqual([100, 200, 300, 300]);
  });

  it('numbers entity signals and calls like sent events', () => {
    const outcome = replay(started(0), [
      { actionType: ActionType.SignalEntity, instanceId: '@counter@k', operation: 'add', input: 1 },
      { actionType: ActionType.CallEntity, instanceId: '@counter@k', operation: 'get' },
    ]);
    expect(outcome.newWork).toEqual([
      { kind: 'entityMessage', id: 0, entityId: '@counter@k', operation: 'add', inputJson: '1', signal: true },
      { kind: 'entityMessage', id: 1, entityId: '@counter@k', operation: 'get', inputJson: undefined, signal: false },
    ]);
  });

  it('resolves an entity call from the response event named after the request id', () => {
    const call: SdkAction = { actionType: ActionType.CallEntity, instanceId: '@counter@k', operation: 'get' };
    const sent = historyEvent(EventType.EventSent, at(0), { EventId: 0, Name: 'op', InstanceId: '@counter@k', Input: JSON.stringify({ op: 'get', id: 'req-1' }) });
    const outcome = replay([...started(0), sent, episode(1), raised('req-1', 1)], [call, activity('after')]);
    expect(ids(outcome)).toEqual(['activity:1']);
  });
});

describe('timers, events and completion', () => {
  it('completes a WhenAny at once when its timer is cancelled, and the timer is not an open task', () => {
    const history = [...started(0), timerCreated(0), episode(1), raised('approve', 1)];
    const outcome = replay(history, [any(waitFor('approve'), timer(at(60), true)), activity('next')]);
    expect(ids(outcome)).toEqual(['activity:1']);
    expect(outcome.openTasks).toBe(1);
  });

  it('keeps an uncancelled timer open after the event wins', () => {
    const history = [...started(0), timerCreated(0), episode(1), raised('approve', 1)];
    const outcome = replay(history, [any(waitFor('approve'), timer(at(60)))]);
    expect(outcome.shimCompleted).toBe(true);
    expect(outcome.openTasks).toBe(1);
  });

  it('uses an event that arrived before the wait', () => {
    const history = [...started(0), scheduled(0, 'a'), episode(1), raised('go', 1), episode(2), completed(0, 2)];
    const outcome = replay(history, [activity('a'), waitFor('go'), activity('b')]);
    expect(ids(outcome)).toEqual(['activity:1']);
  });

  it('carries events that arrive after continueAsNew and drops earlier unconsumed ones', () => {
    const history = [...started(0), raised('early', 0), episode(1), raised('tick', 1), raised('tick', 1), raised('other', 1)];
    const outcome = replay(history, [waitFor('tick'), { actionType: ActionType.ContinueAsNew, input: { n: 1 } }]);
    expect(outcome.continueAsNew?.inputJson).toBe('{"n":1}');
    expect(outcome.continueAsNew?.carryOver.map((e) => e.Name)).toEqual(['tick', 'other']);
  });
});

describe('non-determinism and invalid actions', () => {
  it('names the expected and the actual activity', () => {
    const outcome = replay([...started(0), scheduled(0, 'stepA')], [activity('stepB')]);
    expect(outcome.nonDeterminism).toContain("scheduled an activity task with sequence number 0 named 'stepA'");
    expect(outcome.nonDeterminism).toContain("instead scheduled an activity task named 'stepB'");
  });

  it('reports a different kind of action at the same sequence number', () => {
    const outcome = replay([...started(0), scheduled(0, 'stepA')], [timer(at(5))]);
    expect(outcome.nonDeterminism).toContain('instead scheduled a timer with this sequence number');
  });

  it('reports history the code no longer produces', () => {
    const outcome = replay([...started(0), scheduled(0, 'a'), episode(1), completed(0, 1), scheduled(1, 'b', 1)], [activity('a')]);
    expect(outcome.nonDeterminism).toContain("sequence number 1 named 'b', but the current replay execution hasn't (yet?) scheduled this task");
  });

  it('accepts names that differ only in case, as DurableTask does', () => {
    expect(replay([...started(0), scheduled(0, 'StepA')], [activity('stepa')]).nonDeterminism).toBeUndefined();
  });

  it('rejects unknown functions, locks and durable HTTP', () => {
    expect(replay(started(0), [activity('missingThing')]).invalidAction).toContain("The function 'missingThing' doesn't exist");
    expect(replay(started(0), [{ actionType: ActionType.LockEntities }]).invalidAction).toContain('locks');
    expect(replay(started(0), [{ actionType: ActionType.CallHttp }]).invalidAction).toContain('callHttp');
  });

  it('rejects a sub-orchestration that reuses the parent instance id', () => {
    const outcome = replay(started(0), [{ actionType: ActionType.CallSubOrchestrator, functionName: 'child', instanceId: 'i1' }]);
    expect(outcome.invalidAction).toContain('must be different');
  });

  it('derives sub-orchestration ids from the execution id and task id', () => {
    const outcome = replay(started(0), [activity('a'), { actionType: ActionType.CallSubOrchestrator, functionName: 'child', input: 'x' }].slice(1));
    expect(outcome.newWork).toEqual([{ kind: 'subOrchestration', id: 0, name: 'child', instanceId: 'e1:0', inputJson: '"x"' }]);
  });
});
