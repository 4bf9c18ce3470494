import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startDevhost, type Devhost } from '../../devhost/host/host.js';
import type { HostExtension } from '../../devhost/host/extension-types.js';
import type { ServiceBusExtension } from '../../devhost/service-bus/service-bus-extension.js';
import { eventually } from '../helpers/eventually.js';

const appDir = join(import.meta.dirname, '..', 'fixtures', 'basic-app');
type Received = { fn: string; message?: unknown; deliveryCount?: number; messageId?: string; isPastDue?: boolean };
const received = (): Received[] => ((globalThis as { __basicAppQueue?: Received[] }).__basicAppQueue ??= []);
const isServiceBus = (e: HostExtension): e is ServiceBusExtension => e.triggerTypes.includes('serviceBusTrigger');

const until = <T>(probe: () => T | undefined, timeoutMs = 10_000): Promise<T> => eventually('the queue or timer condition', probe, { timeoutMs });

describe('devhost Service Bus queues and timers', () => {
  let host: Devhost | undefined;
  afterEach(async () => {
    await host?.stop();
    host = undefined;
    received().length = 0;
  });

  async function start(storage = 'memory', schedule = '0 0 0 1 1 *'): Promise<Devhost> {
    process.env['TICKER_SCHEDULE'] = schedule;
    host = await startDevhost({ appDir, port: 0, storage, logLevel: 'error' });
    return host;
  }

  it('delivers a message with trigger metadata and routes the output binding to another queue trigger', async () => {
    const h = await start();
    const bus = h.extension(isServiceBus);
    const res = await fetch(`${h.url}/admin/devhost/queues/intake/messages`, {
      method: 'POST',
      headers: { 'x-functions-key': h.keys.keys.masterKey, 'content-type': 'application/json' },
      body: JSON.stringify({ body: { value: 7 }, messageId: 'm-1' }),
    });
    expect(res.status).toBe(201);
    const forwarded = await until(() => received().find((r) => r.fn === 'forwarded'));
    expect(received().find((r) => r.fn === 'intake')).toMatchObject({ message: { value: 7 }, deliveryCount: 1, messageId: 'm-1' });
    expect(forwarded.message).toEqual({ forwardedFrom: 'm-1', value: 7 });
    await bus?.waitForIdle();
    expect(bus?.store.count('intake')).toBe(0);
  });

  it('redelivers with increasing deliveryCount, then dead-letters after maxDeliveryCount with a reason', async () => {
    const h = await start();
    const bus = h.extension(isServiceBus);
    bus?.send('intake', { body: { fail: true }, messageId: 'poison' });
    const dead = await until(() => bus?.store.peek('intake', { deadLetter: true })[0]);
    // host.json of the fixture sets maxDeliveryCount 3.
    expect(
      received()
        .filter((r) => r.fn === 'intake')
        .map((r) => r.deliveryCount),
    ).toEqual([1, 2, 3]);
    expect(dead).toMatchObject({ messageId: 'poison', deadLetterReason: 'MaxDeliveryCountExceeded' });
    const listed = await fetch(`${h.url}/admin/devhost/queues/intake/deadletter`, { headers: { 'x-functions-key': h.keys.keys.masterKey } });
    expect(await listed.json()).toEqual(expect.arrayContaining([expect.objectContaining({ messageId: 'poison', deadLetterReason: 'MaxDeliveryCountExceeded' })]));
  });

  it('keeps queued messages across a restart with file storage', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'devhost-')), 'devhost.db');
    const first = await start(file);
    // Stop consumers first so the message stays queued, then write it straight into the store.
    const bus = first.extension(isServiceBus);
    await first.stop();
    host = undefined;
    expect(bus).toBeDefined();
    const { openDatabase } = await import('../../devhost/host/storage.js');
    const { ServiceBusQueueStore } = await import('../../devhost/service-bus/service-bus-store.js');
    const db = openDatabase(file);
    new ServiceBusQueueStore(db).send('intake', { body: { value: 42 }, messageId: 'survivor' });
    db.close();

    await start(file);
    const got = await until(() => received().find((r) => r.fn === 'intake' && r.messageId === 'survivor'));
    expect(got.message).toEqual({ value: 42 });
  });

  it('fires a timer on a shrunk schedule and on admin invoke', async () => {
    const h = await start('memory', '*/1 * * * * *');
    await until(() => received().find((r) => r.fn === 'ticker'), 5_000);
    const before = received().filter((r) => r.fn === 'ticker').length;
    const res = await fetch(`${h.url}/admin/functions/ticker`, {
      method: 'POST',
      headers: { 'x-functions-key': h.keys.keys.masterKey, 'content-type': 'application/json' },
      body: JSON.stringify({ input: '' }),
    });
    expect(res.status).toBe(202);
    await until(() => (received().filter((r) => r.fn === 'ticker').length > before ? true : undefined));
    expect(received().find((r) => r.fn === 'ticker')?.isPastDue).toBe(false);
  });

  it('refuses the admin API without the master key', async () => {
    const h = await start();
    const res = await fetch(`${h.url}/admin/functions/ticker`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(401);
    const hostKey = await fetch(`${h.url}/admin/functions/ticker`, { method: 'POST', body: '{}', headers: { 'x-functions-key': h.keys.keys.hostKeys['default'] ?? '' } });
    expect(hostKey.status).toBe(401);
  });
});
