import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { InvocationOutcome, RegisteredFunction, RpcBindingInfo, RpcTypedData } from '../../devhost/host/core-types.js';
import type { HostJson, HostServices } from '../../devhost/host/extension-types.js';
import { FunctionKeyStore } from '../../devhost/host/function-keys.js';
import type { DevhostLogger } from '../../devhost/host/logger.js';
import { DEFAULT_REQUEST_BODY_LIMIT_BYTES } from '../../devhost/host/request-body.js';
import { createServiceBusExtension, type ServiceBusExtension, type ServiceBusExtensionOptions } from '../../devhost/service-bus/service-bus-extension.js';
import { openDatabase } from '../../devhost/host/storage.js';

// --- What @azure/functions does with typed data and trigger metadata (fromRpcTypedData, toCamelCase).
function fromRpc(data: RpcTypedData | null | undefined): unknown {
  if (!data) return undefined;
  if (typeof data.string === 'string') {
    try {
      return JSON.parse(data.string) as unknown;
    } catch {
      return data.string;
    }
  }
  if (typeof data.json === 'string') return JSON.parse(data.json) as unknown;
  if (data.bytes) return Buffer.from(data.bytes);
  return data.int ?? data.double ?? undefined;
}
const camelKey = (k: string) => k.charAt(0).toLowerCase() + k.slice(1);
function camelCase(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(camelCase);
  if (typeof value !== 'object' || value === null || Buffer.isBuffer(value)) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [camelKey(k), camelCase(v)]));
}

interface Call {
  fn: string;
  input: RpcTypedData | null | undefined;
  message: unknown;
  triggerMetadata: Record<string, unknown>;
}
type Behaviour = (call: Call) => Promise<(Partial<Pick<InvocationOutcome, 'returnValue'>> & { outputs?: Record<string, RpcTypedData> }) | void>;

function sbFunction(name: string, trigger: Record<string, unknown>, outputs: Record<string, RpcBindingInfo> = {}): RegisteredFunction {
  const triggerBinding = { type: 'serviceBusTrigger', direction: 'in' as const, connection: 'ServiceBus', ...trigger };
  return {
    name,
    metadata: { name, bindings: { serviceBusTrigger9f: triggerBinding, ...outputs } },
    callback: () => undefined,
    triggerBindingName: 'serviceBusTrigger9f',
    trigger: triggerBinding,
  };
}

/** A fake host whose invoke records what the function would receive and, like the invoker, delivers outputs. */
function fakeHost(db: DatabaseSync, functions: RegisteredFunction[], hostJson: HostJson = {}) {
  const calls: Call[] = [];
  const logs: { level: keyof DevhostLogger; message: string }[] = [];
  const behaviours = new Map<string, Behaviour>();
  const callWaiters: { count: number; resolve: () => void }[] = [];
  let running = 0;
  let maxRunning = 0;
  let extension: ServiceBusExtension | undefined;
  const log = (level: keyof DevhostLogger) => (message: string) => logs.push({ level, message });
  const services: HostServices = {
    db,
    functions: new Map(functions.map((f) => [f.name, f])),
    hostJson,
    baseUrl: () => 'http://127.0.0.1:0',
    logger: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
    keys: new FunctionKeyStore(
      undefined,
      functions.map((f) => f.name),
    ),
    maxRequestBodyBytes: DEFAULT_REQUEST_BODY_LIMIT_BYTES,
    async invoke(fn, inputs, triggerMetadata = {}): Promise<InvocationOutcome> {
      const input = inputs[fn.triggerBindingName];
      const call: Call = {
        fn: fn.name,
        input,
        message: fromRpc(input),
        triggerMetadata: Object.fromEntries(Object.entries(triggerMetadata).map(([k, v]) => [camelKey(k), camelCase(fromRpc(v))])),
      };
      calls.push(call);
      for (const w of callWaiters.filter((w) => calls.length >= w.count)) w.resolve();
      running++;
      maxRunning = Math.max(maxRunning, running);
      try {
        const result = (await behaviours.get(fn.name)?.(call)) ?? {};
        const outcome: InvocationOutcome = {
          invocationId: String(calls.length),
          returnValue: result.returnValue,
          outputs: new Map(Object.entries(result.outputs ?? {})),
          durationMs: 0,
        };
        await extension?.deliverOutputs?.(fn, outcome);
        return outcome;
      } finally {
        running--;
      }
    },
  };
  return {
    services,
    calls,
    logs,
    maxRunning: () => maxRunning,
    attach(ext: ServiceBusExtension) {
      extension = ext;
    },
    on(fn: string, behaviour: Behaviour) {
      behaviours.set(fn, behaviour);
    },
    waitForCalls(count: number): Promise<void> {
      if (calls.length >= count) return Promise.resolve();
      return new Promise((resolve) => callWaiters.push({ count, resolve }));
    },
    messages: (level: keyof DevhostLogger) => logs.filter((l) => l.level === level).map((l) => l.message),
  };
}

function gate() {
  let open = () => {};
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

describe('service bus extension', () => {
  let db: DatabaseSync;
  let extension: ServiceBusExtension | undefined;
  const start = async (host: ReturnType<typeof fakeHost>, options: ServiceBusExtensionOptions = {}) => {
    extension = createServiceBusExtension(host.services, options);
    host.attach(extension);
    await extension.start();
    return extension;
  };

  beforeEach(() => {
    db = openDatabase('memory');
  });
  afterEach(async () => {
    await extension?.stop();
    extension = undefined;
    db.close();
  });

  it('delivers a message with the trigger data and metadata the host sends, then completes it', async () => {
    const host = fakeHost(db, [sbFunction('processOrder', { queueName: 'orders' })]);
    const sb = await start(host);
    const [sent] = sb.send('orders', {
      body: { tenantId: 't1', agent: 'triage', input: 'hi' },
      messageId: 'order-1',
      correlationId: 'corr-1',
      contentType: 'application/json',
      subject: 'new-order',
      applicationProperties: { Source: 'webhook', attempt: 1, urgent: false },
    });
    await sb.waitForIdle();

    expect(host.calls).toHaveLength(1);
    const [call] = host.calls;
    expect(call?.input).toEqual({ json: '{"tenantId":"t1","agent":"triage","input":"hi"}' });
    expect(call?.message).toEqual({ tenantId: 't1', agent: 'triage', input: 'hi' });
    expect(call?.triggerMetadata).toMatchObject({
      messageId: 'order-1',
      deliveryCount: 1,
      sequenceNumber: sent?.sequenceNumber,
      correlationId: 'corr-1',
      contentType: 'application/json',
      subject: 'new-order',
      label: 'new-order',
      expiresAtUtc: '9999-12-31T23:59:59.9999999',
      // The library camel-cases nested keys too, as in Azure.
      applicationProperties: { source: 'webhook', attempt: 1, urgent: false },
      userProperties: { source: 'webhook', attempt: 1, urgent: false },
    });
    expect(call?.triggerMetadata['enqueuedTimeUtc']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?$/);
    expect(call?.triggerMetadata['enqueuedTime']).toMatch(/\+00:00$/);
    expect(call?.triggerMetadata['lockToken']).toMatch(/^[0-9a-f-]{36}$/);
    expect(call?.triggerMetadata).not.toHaveProperty('sessionId');
    expect(sb.store.count('orders')).toBe(0);
  });

  it('passes string bodies as {string} and binary bodies as {bytes}', async () => {
    const host = fakeHost(db, [sbFunction('raw', { queueName: 'raw' })]);
    const sb = await start(host);
    sb.send('raw', [{ body: 'hello' }, { body: Buffer.from([0xde, 0xad]) }]);
    await sb.waitForIdle();
    expect(host.calls.map((c) => c.input)).toEqual([{ string: 'hello' }, { bytes: new Uint8Array([0xde, 0xad]) }]);
  });

  it('abandons on failure, redelivers with a higher DeliveryCount and dead-letters after host.json maxDeliveryCount', async () => {
    const host = fakeHost(db, [sbFunction('fragile', { queueName: 'work' })], { extensions: { serviceBus: { maxDeliveryCount: 3 } } });
    host.on('fragile', async () => {
      throw new Error('boom');
    });
    const sb = await start(host);
    sb.send('work', { body: { n: 1 }, messageId: 'poison-1' });
    await sb.waitForIdle();

    expect(host.calls.map((c) => c.triggerMetadata['deliveryCount'])).toEqual([1, 2, 3]);
    expect(sb.store.count('work')).toBe(0);
    expect(sb.store.peek('work', { deadLetter: true })).toEqual([
      expect.objectContaining({
        messageId: 'poison-1',
        deliveryCount: 3,
        deadLetterReason: 'MaxDeliveryCountExceeded',
        deadLetterErrorDescription: 'Message could not be consumed after 3 delivery attempts.',
      }),
    ]);
    const deadLetterLines = host.messages('warn').filter((m) => m.includes('dead-lettered'));
    expect(deadLetterLines).toEqual([
      "Service Bus: dead-lettered message poison-1 on queue 'work' after 3 delivery(ies): MaxDeliveryCountExceeded " + '(Message could not be consumed after 3 delivery attempts.)',
    ]);
  });

  it('recovers when a later delivery succeeds', async () => {
    const host = fakeHost(db, [sbFunction('retry', { queueName: 'work' })]);
    host.on('retry', async (call) => {
      if (call.triggerMetadata['deliveryCount'] === 1) throw new Error('transient');
    });
    const sb = await start(host);
    sb.send('work', { body: 'x' });
    await sb.waitForIdle();
    expect(host.calls).toHaveLength(2);
    expect(sb.store.count('work')).toBe(0);
    expect(sb.store.count('work', { deadLetter: true })).toBe(0);
  });

  it('never runs more than maxConcurrentCalls invocations of a function at once', async () => {
    const host = fakeHost(db, [sbFunction('bounded', { queueName: 'many' })], { extensions: { serviceBus: { maxConcurrentCalls: 3 } } });
    const gates: ReturnType<typeof gate>[] = [];
    host.on('bounded', async () => {
      const g = gate();
      gates.push(g);
      await g.opened;
    });
    const sb = await start(host);
    sb.send(
      'many',
      Array.from({ length: 10 }, (_, i) => ({ body: i })),
    );
    await host.waitForCalls(3);
    await new Promise((resolve) => setImmediate(resolve));
    expect(host.calls).toHaveLength(3);
    // Open gates as invocations arrive until all ten have run.
    const idle = sb.waitForIdle();
    for (let turns = 0; host.calls.length < 10 || gates.length > 0; turns++) {
      if (turns > 1000) throw new Error(`stuck after ${host.calls.length} calls`);
      gates.shift()?.open();
      await new Promise((resolve) => setImmediate(resolve));
    }
    await idle;
    expect(host.calls.map((c) => c.message).sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(host.maxRunning()).toBe(3);
  });

  it('delivers scheduled messages once their time comes', async () => {
    let now = new Date('2024-05-01T10:00:00.000Z').getTime();
    const host = fakeHost(db, [sbFunction('later', { queueName: 'later' })]);
    const sb = await start(host, { now: () => new Date(now) });
    sb.send('later', { body: 'wake up', scheduledEnqueueTimeUtc: new Date('2024-05-01T10:00:10.000Z') });
    await sb.waitForIdle();
    expect(host.calls).toHaveLength(0);
    now += 10_000;
    await sb.waitForIdle();
    expect(host.calls.map((c) => [c.message, c.triggerMetadata['enqueuedTimeUtc']])).toEqual([['wake up', '2024-05-01T10:00:10']]);
  });

  it('redelivers a message whose lock expired (found by the poll) and warns when the first handler finishes late', async () => {
    let now = new Date('2024-05-01T10:00:00.000Z').getTime();
    const host = fakeHost(db, [sbFunction('slow', { queueName: 'slow' })]);
    const first = gate();
    host.on('slow', async (call) => {
      if (call.triggerMetadata['deliveryCount'] === 1) await first.opened;
    });
    const sb = await start(host, { now: () => new Date(now), lockDurationInMs: 30_000, maxAutoLockRenewalInMs: 0, pollIntervalInMs: 5 });
    sb.send('slow', { body: 'job', messageId: 'job-1' });
    await host.waitForCalls(1);
    now += 30_000;
    await host.waitForCalls(2);
    expect(host.calls[1]?.triggerMetadata['deliveryCount']).toBe(2);
    first.open();
    await sb.waitForIdle();
    expect(sb.store.count('slow')).toBe(0);
    expect(host.messages('warn')).toContainEqual(expect.stringContaining('lock on message job-1'));
  });

  it('routes serviceBus outputs, one message per element of an array, to the named queues', async () => {
    const host = fakeHost(db, [
      sbFunction(
        'fanOut',
        { queueName: 'in' },
        {
          $return: { type: 'serviceBus', direction: 'out', queueName: 'out' },
          auditOut: { type: 'serviceBus', direction: 'out', queueName: '%AUDIT_QUEUE%' },
        },
      ),
      sbFunction('consume', { queueName: 'OUT' }),
    ]);
    host.on('fanOut', async () => ({
      returnValue: { json: JSON.stringify([{ step: 1 }, 'two']) },
      outputs: { auditOut: { string: 'audited' } },
    }));
    const sb = await start(host, { appSetting: (name) => (name === 'AUDIT_QUEUE' ? 'audit' : undefined) });
    sb.send('in', { body: 'go' });
    await sb.waitForIdle();
    expect(host.calls.filter((c) => c.fn === 'consume').map((c) => c.input)).toEqual([{ json: '{"step":1}' }, { string: 'two' }]);
    expect(sb.store.peek('audit').map((m) => m.body)).toEqual(['audited']);
  });

  it("enqueues admin input on the function's queue: JSON when it parses, text otherwise", async () => {
    const fn = sbFunction('adminFed', { queueName: 'admin' });
    const host = fakeHost(db, [fn]);
    const sb = await start(host);
    await sb.invokeFromAdmin?.(fn, '{"tenantId":"t9"}');
    await sb.invokeFromAdmin?.(fn, 'plain words');
    await sb.waitForIdle();
    expect(host.calls.map((c) => c.input)).toEqual([{ json: '{"tenantId":"t9"}' }, { string: 'plain words' }]);
  });

  it('refuses topics, sessions and batches at start, naming each function', async () => {
    const host = fakeHost(db, [
      sbFunction('topicFn', { topicName: 'events', subscriptionName: 'all' }),
      sbFunction('sessionFn', { queueName: 'q', isSessionsEnabled: true }),
      sbFunction('batchFn', { queueName: 'q', cardinality: 'many' }),
      sbFunction('ok', { queueName: 'q' }),
    ]);
    const sb = createServiceBusExtension(host.services);
    const started = sb.start();
    await expect(started).rejects.toThrow("function 'topicFn': topic triggers are not supported by the devhost");
    await expect(started).rejects.toThrow("function 'sessionFn': session-enabled triggers are not supported by the devhost");
    await expect(started).rejects.toThrow("function 'batchFn': batch triggers (cardinality 'many')");
    await expect(started).rejects.not.toThrow("function 'ok'");
  });

  it('stop() waits for in-flight invocations and then leaves new messages in the queue', async () => {
    const host = fakeHost(db, [sbFunction('busy', { queueName: 'busy' })]);
    const g = gate();
    let finished = false;
    host.on('busy', async () => {
      await g.opened;
      finished = true;
    });
    const sb = await start(host);
    sb.send('busy', { body: 1 });
    await host.waitForCalls(1);
    const stopped = sb.stop();
    g.open();
    await stopped;
    expect(finished).toBe(true);
    expect(sb.store.count('busy')).toBe(0);
    sb.send('busy', { body: 2 });
    await sb.waitForIdle();
    expect(host.calls).toHaveLength(1);
    expect(sb.store.count('busy')).toBe(1);
    extension = undefined;
  });

  describe('admin HTTP API', () => {
    let server: Server;
    let base: string;
    beforeEach(async () => {
      const host = fakeHost(db, []);
      const sb = await start(host);
      server = createServer((req, res) => {
        void sb.handleHttp?.(req, res, new URL(req.url ?? '/', 'http://127.0.0.1')).then((handled) => {
          if (!handled) res.writeHead(404).end();
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterEach(async () => {
      await new Promise((resolve) => server.close(resolve));
    });

    const post = (path: string, body: unknown) => fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

    it('enqueues one message or several and lists them', async () => {
      const one = await post('/admin/devhost/queues/agent-requests/messages', { body: { tenantId: 't1' }, messageId: 'a1' });
      expect(one.status).toBe(201);
      expect(await one.json()).toEqual({ messageIds: ['a1'] });
      const many = await post('/admin/devhost/queues/agent-requests/messages', [
        { body: 'text', applicationProperties: { source: 'curl' } },
        { body: 3, scheduledEnqueueTimeUtc: '2999-01-01T00:00:00Z' },
      ]);
      expect(many.status).toBe(201);
      expect(((await many.json()) as { messageIds: string[] }).messageIds).toHaveLength(2);

      const list = await fetch(`${base}/admin/devhost/queues/agent-requests`);
      expect(list.status).toBe(200);
      const messages = (await list.json()) as Record<string, unknown>[];
      expect(messages.map((m) => [m['body'], m['state']])).toEqual([
        [{ tenantId: 't1' }, 'active'],
        ['text', 'active'],
        [3, 'scheduled'],
      ]);
      expect(messages[1]).toMatchObject({ applicationProperties: { source: 'curl' }, deliveryCount: 0 });
      expect(messages[0]).not.toHaveProperty('lockToken');
    });

    it('lists the dead-letter sub-queue', async () => {
      extension?.send('dlq-test', { body: 'bad', messageId: 'd1' });
      const [m] = extension?.store.receive('dlq-test', { maxMessages: 1, lockDurationInMs: 1000 }) ?? [];
      extension?.store.deadLetter(m?.lockToken ?? '', 'InvalidPayload', 'tenantId missing');
      const res = await fetch(`${base}/admin/devhost/queues/dlq-test/deadletter`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual([
        expect.objectContaining({
          messageId: 'd1',
          body: 'bad',
          state: 'deadLettered',
          deliveryCount: 1,
          deadLetterReason: 'InvalidPayload',
          deadLetterErrorDescription: 'tenantId missing',
        }),
      ]);
    });

    it('answers bad requests with problem+json and leaves unknown paths to others', async () => {
      const missingBody = await post('/admin/devhost/queues/q/messages', { messageId: 'x' });
      expect(missingBody.status).toBe(400);
      expect(missingBody.headers.get('content-type')).toContain('application/problem+json');
      expect(await missingBody.json()).toMatchObject({ status: 400, code: 'InvalidMessage' });
      const unknownKey = await post('/admin/devhost/queues/q/messages', { body: 1, applicationProperty: {} });
      expect(unknownKey.status).toBe(400);
      const notJson = await fetch(`${base}/admin/devhost/queues/q/messages`, { method: 'POST', body: '{oops' });
      expect(notJson.status).toBe(400);
      const wrongMethod = await fetch(`${base}/admin/devhost/queues/q/messages`);
      expect(wrongMethod.status).toBe(405);
      expect(wrongMethod.headers.get('allow')).toBe('POST');
      const badName = await fetch(`${base}/admin/devhost/queues/${encodeURIComponent('bad name')}`);
      expect(badName.status).toBe(400);
      expect((await fetch(`${base}/admin/devhost/other`)).status).toBe(404);
      expect(extension?.store.count('q')).toBe(0);
    });
  });
});
