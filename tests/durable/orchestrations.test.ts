import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventType } from '../../devhost/durable/history.js';
import { openGate, outputOf, probe, startDurableHarness, type DurableHarness } from './durable-test-kit.js';

let h: DurableHarness;
beforeAll(async () => {
  h = await startDurableHarness();
});
afterAll(async () => {
  await h?.stop();
});

const uid = (prefix: string): string => `${prefix}-${Math.random().toString(36).slice(2, 10)}`;
type HistoryItem = { EventType: string; FunctionName?: string; Result?: unknown; Name?: string };
const historyOf = (body: Record<string, unknown>): HistoryItem[] => (body['historyEvents'] ?? []) as HistoryItem[];

describe('activities', () => {
  it('runs a sequence of activities', async () => {
    const record = await h.finished(await h.start('helloSequence'));
    expect(record.status).toBe('Completed');
    expect(outputOf(record)).toEqual(['Hello Tokyo!', 'Hello Seattle!', 'Hello London!']);
  });

  it.each([['a string'], ['123'], [42], [3.5], [true], [null], [{ nested: { list: [1, 'two', null] } }], [[1, 2, 3]]])(
    'passes %j through orchestrator and activity unchanged',
    async (value) => {
      const record = await h.finished(await h.start('echoInput', value));
      expect(outputOf(record)).toEqual(value);
    },
  );

  it('retries an activity with DurableTask task ids and then calls the next one', async () => {
    const key = uid('flaky');
    const id = await h.start('retryThenNext', { key, succeedOn: 3, maxAttempts: 5, retryMs: 10 });
    const record = await h.finished(id);
    expect(record.status).toBe('Completed');
    expect(outputOf(record)).toEqual({ first: { key, attempt: 3 }, second: 'Hello attempt 3!' });
    // attempt 0, retry timer 1, attempt 2, retry timer 3, attempt 4, then the next activity 5
    const history = h.durable.engine.history(id);
    const scheduled = history.filter((e) => e.EventType === EventType.TaskScheduled).map((e) => [e.EventId, e.Name]);
    const timers = history.filter((e) => e.EventType === EventType.TimerCreated).map((e) => e.EventId);
    expect(scheduled).toEqual([
      [0, 'flaky'],
      [2, 'flaky'],
      [4, 'flaky'],
      [5, 'sayHello'],
    ]);
    expect(timers).toEqual([1, 3]);
  });

  it('reports the last failure when retries are exhausted', async () => {
    const key = uid('exhausted');
    const record = await h.finished(await h.start('retryExhausted', { key, retryMs: 5 }));
    const { caught } = outputOf(record) as { caught: string };
    expect(caught).toContain("Activity function 'flaky' failed");
    expect(caught).toContain(`ValidationError: attempt 2 of ${key} failed`);
    expect(probe().attempts.get(key)).toBe(2);
  });

  it('surfaces an activity error with its name and message', async () => {
    const record = await h.finished(await h.start('catchActivityFailure'));
    const { message } = outputOf(record) as { message: string };
    expect(message).toContain("Activity function 'failWith' failed: QuotaExceededError: model quota exhausted");
  });

  it('fans out and in', async () => {
    const record = await h.finished(await h.start('fanOut', { count: 40 }));
    expect(outputOf(record)).toBe((40 * 41 * 81) / 6);
  });

  it('fails the instance when the orchestrator calls an unknown activity', async () => {
    const record = await h.finished(await h.start('callsMissingActivity'));
    expect(record.status).toBe('Failed');
    expect(record.output).toContain("The function 'doesNotExist' doesn't exist, is disabled, or is not an activity function");
  });
});

describe('timers and external events', () => {
  it('fires a durable timer', async () => {
    const record = await h.finished(await h.start('durableTimer', { delayMs: 40 }));
    expect(outputOf(record)).toBeGreaterThanOrEqual(40);
  });

  it('completes at once when the event beats the timer and the timer is cancelled', async () => {
    const id = await h.start('approvalOrTimeout', { timeoutMs: 60_000 });
    await h.until(id, (b) => historyOf(b).some((e) => e.EventType === 'TimerCreated'));
    const started = Date.now();
    expect(await h.raise(id, 'approve', { by: 'ada' })).toBe(202);
    const record = await h.finished(id, 5_000);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(outputOf(record)).toEqual({ approved: { by: 'ada' } });
  });

  it('stays running until an uncancelled timer fires, as DurableTask does', async () => {
    const id = await h.start('approvalOrTimeout', { timeoutMs: 300, cancelTimer: false });
    await h.until(id, (b) => historyOf(b).some((e) => e.EventType === 'TimerCreated'));
    await h.raise(id, 'approve', 'yes');
    await h.until(id, (b) => historyOf(b).some((e) => e.EventType === 'EventRaised'));
    expect((await h.status(id)).body['runtimeStatus']).toBe('Running');
    const record = await h.finished(id);
    expect(outputOf(record)).toEqual({ approved: 'yes' });
  });

  it('takes the timeout branch when no event comes', async () => {
    const record = await h.finished(await h.start('approvalOrTimeout', { timeoutMs: 20 }));
    expect(outputOf(record)).toEqual({ approved: null, timedOut: true });
  });

  it('buffers events raised before the orchestrator waits for them', async () => {
    const gateKey = uid('gate');
    const id = await h.start('eventAfterWork', { gateKey });
    await h.until(id, (b) => b['runtimeStatus'] === 'Running');
    expect(await h.raise(id, 'go', 'one')).toBe(202);
    expect(await h.raise(id, 'go', 'two')).toBe(202);
    await h.until(id, (b) => historyOf(b).filter((e) => e.EventType === 'EventRaised').length === 2);
    openGate(gateKey);
    const record = await h.finished(id);
    expect(outputOf(record)).toEqual({ first: 'one', second: 'two' });
  });

  it('answers 404 for unknown instances and 410 for finished ones', async () => {
    expect(await h.raise('no-such-instance', 'go', 1)).toBe(404);
    const id = await h.start('helloSequence');
    await h.finished(id);
    expect(await h.raise(id, 'go', 1)).toBe(410);
  });
});

describe('sub-orchestrations', () => {
  it('calls sub-orchestrations with explicit and generated ids, with retry and in parallel', async () => {
    const childId = uid('child');
    const id = await h.start('subOrchestrations', { childId });
    const record = await h.finished(id);
    const output = outputOf(record) as {
      explicit: { value: number; instanceId: string; parent: string };
      generated: { value: number; instanceId: string };
      retried: { value: number };
      parallel: number[];
    };
    expect(output.explicit).toEqual({ value: 42, instanceId: childId, parent: id });
    expect(output.generated.value).toBe(10);
    expect(output.generated.instanceId).toMatch(/^[0-9a-f]{32}:1$/);
    expect(output.retried.value).toBe(2);
    expect(output.parallel).toEqual([2, 4, 6]);
    const child = await h.status(childId);
    expect(child.status).toBe(200);
    expect(child.body['runtimeStatus']).toBe('Completed');
  });

  it('retries a failing sub-orchestration under the same explicit id, then continues', async () => {
    const key = uid('child-retry');
    const childId = uid('retried-child');
    const id = await h.start('retriedChild', { key, childId });
    const record = await h.finished(id);
    expect(outputOf(record)).toEqual({ result: { attempt: 2, instanceId: childId }, after: 'Hello after child!' });
    const history = h.durable.engine.history(id);
    expect(history.filter((e) => e.EventType === EventType.SubOrchestrationInstanceCreated).map((e) => [e.EventId, e.InstanceId])).toEqual([
      [0, childId],
      [2, childId],
    ]);
    expect(history.filter((e) => e.EventType === EventType.TimerCreated).map((e) => e.EventId)).toEqual([1]);
    expect(history.filter((e) => e.EventType === EventType.TaskScheduled).map((e) => e.EventId)).toEqual([3]);
    expect((await h.status(childId)).body['runtimeStatus']).toBe('Completed');
  });

  it('lets a parent catch a failing sub-orchestration', async () => {
    const record = await h.finished(await h.start('parentCatchesChild'));
    expect(record.status).toBe('Completed');
    const { caught } = outputOf(record) as { caught: string };
    expect(caught).toContain("Orchestrator function 'failingChild' failed: child exploded");
  });
});

describe('continueAsNew', () => {
  it('continues as new 100 times and keeps only the last history', async () => {
    const id = await h.start('counterLoop', { n: 0, max: 100 });
    const record = await h.finished(id, 20_000);
    expect(outputOf(record)).toEqual({ n: 100, received: null });
    const { body } = await h.status(id, '?showHistory=true');
    const history = historyOf(body);
    expect(history.map((e) => e.EventType)).toEqual(['ExecutionStarted', 'ExecutionCompleted']);
    expect(h.durable.engine.history(id).length).toBeLessThan(8);
    expect(body['input']).toEqual({ n: 100, max: 100 });
  });

  it('carries events that arrive after continueAsNew into the next execution', async () => {
    const id = await h.start('eventCollector', { max: 3 });
    await h.until(id, (b) => b['runtimeStatus'] === 'Running');
    expect((await h.client('suspend', id, 'batch the ticks')).ok).toBe(true);
    await h.until(id, (b) => b['runtimeStatus'] === 'Suspended');
    for (const tick of ['a', 'b', 'c']) expect(await h.raise(id, 'tick', tick)).toBe(202);
    expect((await h.client('resume', id, 'go')).ok).toBe(true);
    const record = await h.finished(id);
    expect(outputOf(record)).toEqual(['a', 'b', 'c']);
  });
});

describe('orchestrator APIs', () => {
  it('keeps currentUtcDateTime, newGuid and isReplaying deterministic across replays', async () => {
    const id = await h.start('deterministicApis');
    const record = await h.finished(id);
    const output = outputOf(record) as { recorded: { guid: string; time: string }; guid1: string; time1: string; guid2: string; sameGuids: boolean };
    expect(output.recorded).toEqual({ guid: output.guid1, time: output.time1 });
    expect(output.sameGuids).toBe(false);
    const log = probe().replayLog.filter((e) => e.id === id);
    const step1 = log.filter((e) => e.step === 1);
    const step2 = log.filter((e) => e.step === 2);
    expect(step1.length).toBe(3);
    expect(step1.map((e) => e.isReplaying)).toEqual([false, true, true]);
    expect(new Set(step1.map((e) => `${e.guid}|${e.time}`)).size).toBe(1);
    expect(step2.map((e) => e.isReplaying)).toEqual([false, true]);
    expect(new Set(step2.map((e) => e.guid)).size).toBe(1);
    expect(log.filter((e) => e.step === 3).map((e) => e.isReplaying)).toEqual([false]);
  });

  it('reports custom status while running', async () => {
    const id = await h.start('waitForever');
    const body = await h.until(id, (b) => b['customStatus'] !== null);
    expect(body['customStatus']).toEqual({ stage: 'waiting' });
    expect((await h.client('terminate', id, 'done looking')).ok).toBe(true);
    await h.finished(id);
  });

  it('fails the instance on an uncaught orchestrator error', async () => {
    const id = await h.start('uncaughtFailure');
    const record = await h.finished(id);
    expect(record.status).toBe('Failed');
    const { status, body } = await h.status(id);
    expect(status).toBe(200);
    expect(body['output']).toBe("Orchestrator function 'uncaughtFailure' failed: orchestrator gave up");
    expect((await h.status(id, '?returnInternalServerErrorOnFailure=true')).status).toBe(500);
  });

  it('fails with a non-determinism error naming the expected and the actual activity', async () => {
    probe().variant = 'stepA';
    const id = await h.start('nondeterministic');
    try {
      await h.until(id, (b) => historyOf(b).some((e) => e.EventType === 'TaskCompleted'));
      probe().variant = 'stepB';
      await h.raise(id, 'go', 1);
      const record = await h.finished(id);
      expect(record.status).toBe('Failed');
      expect(record.output).toContain('Non-Deterministic workflow detected');
      expect(record.output).toContain("named 'stepA'");
      expect(record.output).toContain("activity task named 'stepB'");
    } finally {
      probe().variant = 'stepA';
    }
  });
});

describe('terminate, suspend and resume', () => {
  it('terminates a running instance', async () => {
    const id = await h.start('waitForever');
    await h.until(id, (b) => b['runtimeStatus'] === 'Running');
    expect(await h.client('terminate', id, 'operator stopped it')).toEqual({ ok: true, value: null });
    const record = await h.finished(id);
    expect(record.status).toBe('Terminated');
    const { status, body } = await h.status(id, '?showHistory=true');
    expect(status).toBe(200);
    expect(body['output']).toBe('operator stopped it');
    expect(historyOf(body).map((e) => e.EventType)).toContain('ExecutionTerminated');
    // a second terminate is 410, which the SDK treats as success
    const again = await fetch(h.keyed(`${h.url}/runtime/webhooks/durabletask/instances/${id}/terminate?reason=x`), { method: 'POST' });
    expect(again.status).toBe(410);
  });

  it('holds events while suspended and continues after resume', async () => {
    const id = await h.start('waitThenWork');
    await h.until(id, (b) => b['runtimeStatus'] === 'Running');
    expect((await h.client('suspend', id, 'hold on')).ok).toBe(true);
    await h.until(id, (b) => b['runtimeStatus'] === 'Suspended');
    await h.raise(id, 'go', 'payload');
    await h.durable.waitForIdle();
    const suspended = await h.status(id);
    expect(suspended.status).toBe(202);
    expect(suspended.body['runtimeStatus']).toBe('Suspended');
    expect((await h.client('resume', id, 'carry on')).ok).toBe(true);
    const record = await h.finished(id);
    expect(outputOf(record)).toBe('payload');
  });
});
