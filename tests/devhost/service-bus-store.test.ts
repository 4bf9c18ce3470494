import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type DeadLetterEvent, MessageLockLostError, ServiceBusQueueStore, type ServiceBusQueueStoreOptions } from '../../devhost/service-bus/service-bus-store.js';
import { openDatabase } from '../../devhost/host/storage.js';

/** A settable clock so locks expire and scheduled messages appear without waiting. */
function manualClock(startIso = '2024-05-01T10:00:00.000Z') {
  let t = new Date(startIso).getTime();
  return {
    now: () => new Date(t),
    advance(ms: number) {
      t += ms;
    },
  };
}

const LOCK = { maxMessages: 10, lockDurationInMs: 30_000 };

describe('ServiceBusQueueStore', () => {
  let db: DatabaseSync;
  let clock: ReturnType<typeof manualClock>;
  let deadLetters: DeadLetterEvent[];
  let store: ServiceBusQueueStore;
  const make = (options: ServiceBusQueueStoreOptions = {}) => new ServiceBusQueueStore(db, { now: clock.now, onDeadLetter: (e) => deadLetters.push(e), ...options });

  beforeEach(() => {
    db = openDatabase('memory');
    clock = manualClock();
    deadLetters = [];
    store = make({ maxDeliveryCount: 3 });
  });
  afterEach(() => db.close());

  it('stores bodies with their kind and returns them in sequence order', () => {
    const sent = store.send('Orders', [
      { body: 'plain text' },
      { body: { tenantId: 't1', n: 1 }, messageId: 'm-json', applicationProperties: { source: 'test', priority: 2, urgent: true } },
      { body: Buffer.from([1, 2, 3]), contentType: 'application/octet-stream' },
    ]);
    expect(sent.map((s) => s.sequenceNumber)).toEqual([...sent.map((s) => s.sequenceNumber)].sort((a, b) => a - b));
    expect(sent[0]?.messageId).toMatch(/^[0-9a-f]{32}$/);
    expect(sent[1]?.messageId).toBe('m-json');

    const [text, json, bytes] = store.receive('orders', LOCK);
    expect(text).toMatchObject({ bodyKind: 'string', body: 'plain text', deliveryCount: 1, state: 'active', queue: 'orders' });
    expect(json).toMatchObject({
      bodyKind: 'json',
      body: { tenantId: 't1', n: 1 },
      rawBody: '{"tenantId":"t1","n":1}',
      applicationProperties: { source: 'test', priority: 2, urgent: true },
    });
    expect(bytes?.bodyKind).toBe('bytes');
    expect([...(bytes?.body as Uint8Array)]).toEqual([1, 2, 3]);
    expect(bytes?.contentType).toBe('application/octet-stream');
    expect(text?.lockedUntilUtc?.toISOString()).toBe('2024-05-01T10:00:30.000Z');
  });

  it('locks received messages: others cannot receive them until complete or abandon', () => {
    store.send('q', [{ body: 'a' }, { body: 'b' }]);
    const [first] = store.receive('q', { maxMessages: 1, lockDurationInMs: 30_000 });
    const [second] = store.receive('q', LOCK);
    expect(first?.body).toBe('a');
    expect(second?.body).toBe('b');
    expect(store.receive('q', LOCK)).toEqual([]);

    store.complete(first?.lockToken ?? '');
    expect(store.count('q')).toBe(1);
    expect(() => store.complete(first?.lockToken ?? '')).toThrow(MessageLockLostError);

    expect(store.abandon(second?.lockToken ?? '')).toBe('released');
    const [again] = store.receive('q', LOCK);
    expect(again).toMatchObject({ body: 'b', deliveryCount: 2 });
    expect(again?.lockToken).not.toBe(second?.lockToken);
  });

  it("dead-letters after maxDeliveryCount abandons with the service's reason and description", () => {
    store.send('q', { body: { bad: true }, messageId: 'poison' });
    for (let attempt = 1; attempt <= 3; attempt++) {
      const [message] = store.receive('q', LOCK);
      expect(message?.deliveryCount).toBe(attempt);
      expect(store.abandon(message?.lockToken ?? '')).toBe(attempt < 3 ? 'released' : 'deadLettered');
    }
    expect(store.receive('q', LOCK)).toEqual([]);
    expect(store.count('q')).toBe(0);
    expect(store.count('q', { deadLetter: true })).toBe(1);
    const [dead] = store.peek('q', { deadLetter: true });
    expect(dead).toMatchObject({
      messageId: 'poison',
      body: { bad: true },
      deliveryCount: 3,
      state: 'deadLettered',
      deadLetterReason: 'MaxDeliveryCountExceeded',
      deadLetterErrorDescription: 'Message could not be consumed after 3 delivery attempts.',
    });
    expect(dead?.lockToken).toBeUndefined();
    expect(deadLetters).toEqual([expect.objectContaining({ queue: 'q', messageId: 'poison', reason: 'MaxDeliveryCountExceeded', deliveryCount: 3 })]);
  });

  it('dead-letters explicitly with a reason and description', () => {
    store.send('q', { body: 'x', messageId: 'm1' });
    const [message] = store.receive('q', LOCK);
    store.deadLetter(message?.lockToken ?? '', 'ValidationFailed', 'tenantId is required');
    expect(store.peek('q', { deadLetter: true })[0]).toMatchObject({
      deadLetterReason: 'ValidationFailed',
      deadLetterErrorDescription: 'tenantId is required',
      deliveryCount: 1,
    });
    expect(deadLetters.map((e) => e.reason)).toEqual(['ValidationFailed']);
  });

  it('redelivers when a lock expires and refuses to settle with the expired lock', () => {
    store.send('q', { body: 'slow' });
    const [first] = store.receive('q', LOCK);
    clock.advance(29_999);
    expect(store.receive('q', LOCK)).toEqual([]);
    clock.advance(1);
    const [second] = store.receive('q', LOCK);
    expect(second).toMatchObject({ body: 'slow', deliveryCount: 2 });
    expect(() => store.complete(first?.lockToken ?? '')).toThrow(MessageLockLostError);
    expect(() => store.abandon(first?.lockToken ?? '')).toThrow(expect.objectContaining({ code: 'MessageLockLost' }));
    store.complete(second?.lockToken ?? '');
    expect(store.count('q')).toBe(0);
  });

  it('dead-letters a message whose lock expired on its last allowed delivery', () => {
    store.send('q', { body: 'crashy', messageId: 'c' });
    for (let i = 0; i < 3; i++) {
      expect(store.receive('q', LOCK)).toHaveLength(1);
      clock.advance(30_000);
    }
    expect(store.receive('q', LOCK)).toEqual([]);
    expect(store.peek('q', { deadLetter: true })[0]).toMatchObject({ messageId: 'c', deadLetterReason: 'MaxDeliveryCountExceeded' });
  });

  it('renews a held lock and rejects renewing an expired one', () => {
    store.send('q', { body: 'long' });
    const [message] = store.receive('q', LOCK);
    clock.advance(20_000);
    expect(store.renewLock(message?.lockToken ?? '', 30_000).toISOString()).toBe('2024-05-01T10:00:50.000Z');
    clock.advance(20_000);
    expect(store.receive('q', LOCK)).toEqual([]);
    clock.advance(10_000);
    expect(() => store.renewLock(message?.lockToken ?? '', 30_000)).toThrow(MessageLockLostError);
  });

  it('keeps scheduled messages invisible until their time and dates them then', () => {
    store.send('q', [{ body: 'later', scheduledEnqueueTimeUtc: new Date('2024-05-01T10:05:00Z') }, { body: 'now' }]);
    expect(store.hasAvailable('q')).toBe(true);
    expect(store.peek('q').map((m) => [m.body, m.state])).toEqual([
      ['later', 'scheduled'],
      ['now', 'active'],
    ]);
    const [now] = store.receive('q', LOCK);
    expect(now?.body).toBe('now');
    store.complete(now?.lockToken ?? '');
    expect(store.hasAvailable('q')).toBe(false);
    clock.advance(5 * 60_000);
    const [later] = store.receive('q', LOCK);
    expect(later?.body).toBe('later');
    expect(later?.enqueuedTimeUtc.toISOString()).toBe('2024-05-01T10:05:00.000Z');
  });

  it('treats queue names case-insensitively and purges one sub-queue at a time', () => {
    store.send('Agent-Requests', [{ body: 1 }, { body: 2 }]);
    const [m] = store.receive('agent-requests', { maxMessages: 1, lockDurationInMs: 1000 });
    store.deadLetter(m?.lockToken ?? '', 'Test');
    expect(store.count('AGENT-REQUESTS')).toBe(1);
    expect(store.purge('agent-requests')).toBe(1);
    expect(store.count('agent-requests', { deadLetter: true })).toBe(1);
    expect(store.purge('agent-requests', { deadLetter: true })).toBe(1);
  });

  it('rejects messages it cannot store, storing none of the batch', () => {
    expect(() => store.send('q', [{ body: 'ok' }, { body: undefined }])).toThrow(/message 1: body is required/);
    expect(() => store.send('q', { body: 'x', applicationProperties: { when: new Date() as unknown as string } })).toThrow(/application property 'when'/);
    expect(() => store.send('q', { body: 'x', messageId: 'm'.repeat(129) })).toThrow(/messageId/);
    expect(() => store.send('bad queue', { body: 'x' })).toThrow(/not a valid queue name/);
    expect(store.count('q')).toBe(0);
  });

  it('notifies when messages become available', () => {
    const available: string[] = [];
    const notifying = make({ onAvailable: (q) => available.push(q) });
    notifying.send('Q1', { body: 'a' });
    const [m] = notifying.receive('q1', LOCK);
    notifying.abandon(m?.lockToken ?? '');
    expect(available).toEqual(['q1', 'q1']);
  });
});

describe('ServiceBusQueueStore persistence', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'devhost-sb-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps messages, delivery counts, locks and dead letters across closing and reopening the file', () => {
    const file = join(dir, 'devhost.db');
    const clock = manualClock();
    let db = openDatabase(file);
    let store = new ServiceBusQueueStore(db, { now: clock.now, maxDeliveryCount: 2 });
    store.send('q', [{ body: { n: 1 }, messageId: 'keep' }, { body: 'dead' }, { body: Buffer.from('bin') }]);
    const [kept] = store.receive('q', { maxMessages: 1, lockDurationInMs: 10_000 });
    const [dying] = store.receive('q', { maxMessages: 1, lockDurationInMs: 10_000 });
    store.deadLetter(dying?.lockToken ?? '', 'Poison', 'bad input');
    db.close();

    db = openDatabase(file);
    store = new ServiceBusQueueStore(db, { now: clock.now, maxDeliveryCount: 2 });
    // Still locked by the receiver from before the restart.
    const [bytes] = store.receive('q', LOCK);
    expect(Buffer.from(bytes?.body as Uint8Array).toString()).toBe('bin');
    clock.advance(10_000);
    const [again] = store.receive('q', LOCK);
    expect(again).toMatchObject({ messageId: 'keep', body: { n: 1 }, deliveryCount: 2 });
    expect(again?.sequenceNumber).toBe(kept?.sequenceNumber);
    expect(store.peek('q', { deadLetter: true })[0]).toMatchObject({ body: 'dead', deadLetterReason: 'Poison' });
    // Sequence numbers keep increasing after a restart.
    const [next] = store.send('q', { body: 'after restart' });
    expect(next?.sequenceNumber).toBeGreaterThan(bytes?.sequenceNumber ?? Infinity);
    db.close();
  });
});
