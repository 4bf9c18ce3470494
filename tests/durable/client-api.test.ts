import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outputOf, startDurableHarness, type DurableHarness } from './durable-test-kit.js';

let h: DurableHarness;
beforeAll(async () => {
  h = await startDurableHarness();
});
afterAll(async () => {
  await h?.stop();
});

const uid = (prefix: string): string => `${prefix}-${Math.random().toString(36).slice(2, 10)}`;
const webhooks = (): string => `${h.url}/runtime/webhooks/durabletask`;

describe('durable client through df.getClient', () => {
  it('starts with createCheckStatusResponse: 202, Location and management links', async () => {
    const res = await fetch(`${h.url}/api/orchestrators/helloSequence`, { method: 'POST' });
    expect(res.status).toBe(202);
    const body = (await res.json()) as Record<string, string>;
    expect(res.headers.get('location')).toBe(body['statusQueryGetUri']);
    // As on Azure, the links carry the Durable extension's system key.
    expect(body['statusQueryGetUri']).toBe(`${h.url}/runtime/webhooks/durabletask/instances/${body['id']}?taskHub=DurableFixtureHub&connection=Storage&code=${h.systemKey}`);
    expect(body['sendEventPostUri']).toContain(`/instances/${body['id']}/raiseEvent/{eventName}`);
    for (const key of ['sendEventPostUri', 'terminatePostUri', 'purgeHistoryDeleteUri', 'suspendPostUri', 'resumePostUri']) {
      expect(body[key]).toContain(body['id']);
      expect(body[key]).toContain(`code=${h.systemKey}`);
    }
    await h.finished(body['id'] as string);
    const status = await fetch(body['statusQueryGetUri'] as string);
    expect(status.status).toBe(200);
    expect(((await status.json()) as Record<string, unknown>)['output']).toEqual(['Hello Tokyo!', 'Hello Seattle!', 'Hello London!']);
  });

  it('starts with an explicit instance id and refuses it while the instance runs', async () => {
    const id = uid('explicit');
    const first = await fetch(`${h.url}/api/orchestrators/waitForever/${id}`, { method: 'POST' });
    expect(first.status).toBe(202);
    expect(((await first.json()) as { id: string }).id).toBe(id);
    const again = await h.client('startNew', 'waitForever', { instanceId: id });
    expect(again.ok).toBe(false);
    expect(again.error).toContain('500');
    expect(again.error).toContain('An Orchestration instance with the status');
    await h.client('terminate', id, 'test over');
    await h.finished(id);
    // once finished, the id can be reused
    const reused = await h.client('startNew', 'helloSequence', { instanceId: id });
    expect(reused).toEqual({ ok: true, value: id });
    expect((await h.finished(id)).status).toBe('Completed');
  });

  it('rejects an unknown orchestrator with 400', async () => {
    const res = await fetch(h.keyed(`${webhooks()}/orchestrators/noSuchOrchestrator`), { method: 'POST' });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { ExceptionMessage: string };
    expect(body.ExceptionMessage).toContain("The function 'noSuchOrchestrator' doesn't exist");
  });

  it('waitForCompletionOrCreateCheckStatusResponse returns the output once done', async () => {
    const res = await fetch(`${h.url}/api/start-and-wait/helloSequence`, { method: 'POST' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(['Hello Tokyo!', 'Hello Seattle!', 'Hello London!']);
  });

  it('waitForCompletionOrCreateCheckStatusResponse answers 202 when the wait times out', async () => {
    const res = await fetch(`${h.url}/api/start-and-wait/waitForever?timeoutMs=50`, { method: 'POST' });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    await h.client('terminate', id, 'cleanup');
  });

  it('getStatus with history and inputs', async () => {
    const id = await h.start('retryThenNext', { key: uid('k'), succeedOn: 2, maxAttempts: 3, retryMs: 5 });
    await h.finished(id);
    const plain = await h.client('getStatus', id);
    const status = plain.value as Record<string, unknown>;
    expect(status['runtimeStatus']).toBe('Completed');
    expect(status['name']).toBe('retryThenNext');
    expect(status['history']).toBeUndefined();
    const withHistory = await h.client('getStatus', id, { showHistory: true, showHistoryOutput: true, showInput: true });
    const history = (withHistory.value as { history: Record<string, unknown>[] }).history;
    expect(history.map((e) => e['EventType'])).toEqual(['ExecutionStarted', 'TaskFailed', 'TimerCreated', 'TimerFired', 'TaskCompleted', 'TaskCompleted', 'ExecutionCompleted']);
    const completed = history.find((e) => e['EventType'] === 'TaskCompleted' && e['FunctionName'] === 'sayHello');
    expect(completed?.['Result']).toBe('Hello attempt 2!');
    expect(completed?.['ScheduledTime']).toBeTypeOf('string');
    expect(history[0]?.['FunctionName']).toBe('retryThenNext');
  });

  it('getStatus of an unknown instance fails like the SDK does on 404', async () => {
    const result = await h.client('getStatus', 'missing-instance');
    expect(result.ok).toBe(false);
    expect(result.error).toContain('HTTP 404');
  });

  it('getStatusAll and getStatusBy filter by status and creation time', async () => {
    const since = new Date(Date.now() - 1).toISOString();
    const done = await h.start('helloSequence');
    await h.finished(done);
    const waiting = await h.start('waitForever');
    await h.until(waiting, (b) => b['runtimeStatus'] === 'Running');
    const all = (await h.client('getStatusAll')).value as { instanceId: string }[];
    expect(all.map((s) => s.instanceId)).toEqual(expect.arrayContaining([done, waiting]));
    const running = (await h.client('getStatusBy', { runtimeStatus: ['Running'], createdTimeFrom: since })).value as { instanceId: string; runtimeStatus: string }[];
    expect(running.map((s) => s.instanceId)).toContain(waiting);
    expect(running.map((s) => s.instanceId)).not.toContain(done);
    expect(running.every((s) => s.runtimeStatus === 'Running')).toBe(true);
    const future = (await h.client('getStatusBy', { createdTimeFrom: new Date(Date.now() + 60_000).toISOString() })).value as unknown[];
    expect(future).toEqual([]);
    await h.client('terminate', waiting, 'cleanup');
  });

  it('pages the instance list with the continuation token', async () => {
    const prefix = uid('page');
    for (let i = 0; i < 5; i++) await h.finished(await h.start('helloSequence', undefined, `${prefix}-${i}`));
    const first = await fetch(h.keyed(`${webhooks()}/instances/?instanceIdPrefix=${prefix}&top=2`));
    const token = first.headers.get('x-ms-continuation-token');
    expect(((await first.json()) as unknown[]).length).toBe(2);
    expect(token).toBeTruthy();
    const second = await fetch(h.keyed(`${webhooks()}/instances/?instanceIdPrefix=${prefix}&top=10`), { headers: { 'x-ms-continuation-token': token ?? '' } });
    expect(((await second.json()) as unknown[]).length).toBe(3);
    expect(second.headers.get('x-ms-continuation-token')).toBeNull();
  });

  it('raiseEvent delivers data', async () => {
    const id = await h.start('waitThenWork');
    await h.until(id, (b) => b['runtimeStatus'] === 'Running');
    expect(await h.client('raiseEvent', id, 'go', { answer: 42 })).toEqual({ ok: true, value: null });
    expect(outputOf(await h.finished(id))).toEqual({ answer: 42 });
  });

  it('purgeInstanceHistory deletes a finished instance', async () => {
    const id = await h.start('helloSequence');
    await h.finished(id);
    expect(await h.client('purgeInstanceHistory', id)).toEqual({ ok: true, value: { instancesDeleted: 1 } });
    expect((await h.status(id)).status).toBe(404);
    expect(await h.client('purgeInstanceHistory', id)).toEqual({ ok: true, value: { instancesDeleted: 0 } });
  });

  it('createHttpManagementPayload has the links for an instance', async () => {
    const result = await h.client('createHttpManagementPayload', 'abc123');
    const payload = result.value as Record<string, string>;
    expect(payload['id']).toBe('abc123');
    expect(payload['statusQueryGetUri']).toContain('/runtime/webhooks/durabletask/instances/abc123?');
    expect(payload['statusQueryGetUri']).toContain(`code=${h.systemKey}`);
  });
});

describe('HTTP API status codes', () => {
  it('answers 202 with Location and Retry-After while running, 200 when done', async () => {
    const id = await h.start('waitThenWork');
    const running = await fetch(h.keyed(`${webhooks()}/instances/${id}`));
    expect(running.status).toBe(202);
    // Location is the request's own URL, key included (as the extension answers).
    expect(running.headers.get('location')).toBe(h.keyed(`${webhooks()}/instances/${id}`));
    expect(running.headers.get('retry-after')).toBe('5');
    await running.arrayBuffer();
    await h.raise(id, 'go', 'x');
    await h.finished(id);
    const done = await fetch(h.keyed(`${webhooks()}/instances/${id}`));
    expect(done.status).toBe(200);
    expect(done.headers.get('location')).toBeNull();
    const body = (await done.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ name: 'waitThenWork', instanceId: id, runtimeStatus: 'Completed', output: 'x', input: null });
    expect(body['createdTime']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  it('answers 404 for an unknown instance', async () => {
    expect((await fetch(h.keyed(`${webhooks()}/instances/nope`))).status).toBe(404);
  });

  it('requires JSON content for events and validates start bodies', async () => {
    const id = await h.start('waitThenWork');
    const text = await fetch(h.keyed(`${webhooks()}/instances/${id}/raiseEvent/go`), { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hi' });
    expect(text.status).toBe(400);
    const badStart = await fetch(h.keyed(`${webhooks()}/orchestrators/echoInput`), { method: 'POST', body: '{not json' });
    expect(badStart.status).toBe(400);
    await h.client('terminate', id, 'cleanup');
  });

  it('starts and waits server-side with timeout and pollingInterval', async () => {
    const res = await fetch(h.keyed(`${webhooks()}/orchestrators/echoInput?timeout=5&pollingInterval=1`), { method: 'POST', body: JSON.stringify({ a: 1 }) });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ a: 1 });
  });

  it('purges by filter and requires createdTimeFrom', async () => {
    expect((await fetch(h.keyed(`${webhooks()}/instances/`), { method: 'DELETE' })).status).toBe(400);
    const id = await h.start('helloSequence');
    await h.finished(id);
    const from = new Date(Date.now() - 60_000).toISOString();
    const res = await fetch(h.keyed(`${webhooks()}/instances/?createdTimeFrom=${from}&runtimeStatus=Completed`), { method: 'DELETE' });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { instancesDeleted: number }).instancesDeleted).toBeGreaterThan(0);
    expect((await h.status(id)).status).toBe(404);
  });

  it('lists instances for developers on the admin route and in listInstances()', async () => {
    const id = await h.start('helloSequence');
    await h.finished(id);
    const summaries = h.durable.listInstances({ statuses: ['Completed'] });
    expect(summaries.find((s) => s.instanceId === id)).toMatchObject({ name: 'helloSequence', runtimeStatus: 'Completed' });
    const key = h.host.keys.keys.masterKey;
    const res = await fetch(`${h.url}/admin/durable/instances?runtimeStatus=Completed`, { headers: { 'x-functions-key': key } });
    expect(res.status).toBe(200);
    const list = (await res.json()) as { instanceId: string }[];
    expect(list.map((s) => s.instanceId)).toContain(id);
    const one = await fetch(`${h.url}/admin/durable/instances/${id}`, { headers: { 'x-functions-key': key } });
    const detail = (await one.json()) as { historyEvents: { EventType: string }[] };
    expect(detail.historyEvents[0]?.EventType).toBe('ExecutionStarted');
  });

  it('starts an orchestration from the admin API', async () => {
    const key = h.host.keys.keys.masterKey;
    const res = await fetch(`${h.url}/admin/functions/echoInput`, {
      method: 'POST',
      headers: { 'x-functions-key': key, 'content-type': 'application/json' },
      body: JSON.stringify({ input: '{"from":"admin"}' }),
    });
    expect(res.status).toBe(202);
    await h.durable.waitForIdle();
    const started = h.durable.listInstances().filter((s) => s.name === 'echoInput' && s.output === '{"from":"admin"}');
    expect(started.length).toBe(1);
  });
});
