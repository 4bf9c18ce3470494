import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import { DurableStore } from '../../devhost/durable/durable-store.js';
import { EventType } from '../../devhost/durable/history.js';
import type { DevhostLogger } from '../../devhost/host/logger.js';
import { ServiceBusQueueStore } from '../../devhost/service-bus/service-bus-store.js';
import { inTransaction, openDatabase, storageHealth } from '../../devhost/host/storage.js';
import { devhostCliPath, repoRoot, spawnDevhost } from '../helpers/spawn-devhost.js';
import { openGate, outputOf, probe, startDurableHarness, type DurableHarness } from './durable-test-kit.js';
import { eventually } from '../helpers/eventually.js';

/**
 * The devhost fails closed when its SQLite store cannot be written: nothing is acknowledged
 * that is not stored, every door answers 503 with Retry-After meanwhile, and it resumes by itself
 * once the store is writable again.
 *
 * How the faults are made (the machine may run as root, so chmod does not stop writes):
 * - full: `PRAGMA max_page_count` on the devhost's own connection to the real file, so SQLite
 *   answers "database or disk is full" exactly as on a full disk or quota; raising it clears it.
 * - read-only: `PRAGMA query_only = 1` on the devhost's connection, re-applied every time the
 *   devhost reopens it while the fault lasts. SQLite then answers "attempt to write a readonly
 *   database" (SQLITE_READONLY), as for a file or filesystem that became read-only, or a file
 *   opened while it was read-only (SQLite falls back to a read-only connection that stays so
 *   until it is reopened). Clearing the fault only stops the re-apply: the connection recovers
 *   only because the devhost closes and reopens it.
 * - unwritable at start: the file's header marks it as written by a newer SQLite (write version
 *   3), which SQLite opens read-only whatever the permissions.
 */

const dirs: string[] = [];
function tempDb(): string {
  const dir = mkdtempSync(join(tmpdir(), 'durable-faults-'));
  dirs.push(dir);
  return join(dir, 'devhost.db');
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function capturingLogger(): DevhostLogger & { lines: string[] } {
  const lines: string[] = [];
  const add = (level: string) => (message: string) => lines.push(`${level} ${message}`);
  return { lines, debug: () => {}, info: add('info'), warn: add('warn'), error: add('error') };
}

const until = async (what: string, probeFn: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> => {
  await eventually(what, probeFn, { timeoutMs, intervalMs: 5 });
};

/** A few turns of the event loop: enough for the engine's setImmediate pumps to run. */
async function turns(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

interface Fault {
  name: string;
  /** SQLite's own words for the fault. */
  sqliteText: string;
  /** A body big enough that storing it needs new pages. */
  bigInput: string;
  inject(db: DatabaseSync): void;
  clear(db: DatabaseSync): void;
  /** Checks, after recovery, how the devhost got out of it. */
  recoveredBy(db: DatabaseSync): void;
}

function fullDisk(): Fault {
  return {
    name: 'a full store (PRAGMA max_page_count)',
    sqliteText: 'database or disk is full',
    bigInput: 'x'.repeat(512 * 1024),
    inject(db) {
      const { page_count: pages } = db.prepare('PRAGMA page_count').get() as { page_count: number };
      db.exec(`PRAGMA max_page_count = ${pages}`);
    },
    clear(db) {
      db.exec('PRAGMA max_page_count = 1073741823');
    },
    recoveredBy(db) {
      // Same connection: retrying the kept commit was enough.
      expect(storageHealth(db).generation).toBe(0);
    },
  };
}

function readOnlyStore(): Fault {
  let faulted = false;
  let removeListener: (() => void) | undefined;
  let generationAtFault = 0;
  return {
    name: 'a read-only store (query_only, kept across reopens)',
    sqliteText: 'attempt to write a readonly database',
    bigInput: 'x',
    inject(db) {
      faulted = true;
      generationAtFault = storageHealth(db).generation;
      db.exec('PRAGMA query_only = 1');
      removeListener = storageHealth(db).onReopen(() => {
        if (faulted) db.exec('PRAGMA query_only = 1');
      });
    },
    clear() {
      faulted = false; // the live connection stays read-only: only a reopen clears it
      removeListener?.();
    },
    recoveredBy(db) {
      expect(storageHealth(db).generation).toBeGreaterThan(generationAtFault);
    },
  };
}

/** Rows as stored in the file, read through a separate connection. */
function storedInstances(file: string): Map<string, string> {
  const reader = new DatabaseSync(file, { readOnly: true });
  try {
    const rows = reader.prepare('SELECT instance_id, status FROM durable_instances').all() as { instance_id: string; status: string }[];
    return new Map(rows.map((r) => [r.instance_id, r.status]));
  } finally {
    reader.close();
  }
}

async function post(url: string, body: string): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
}

describe.each([
  { store: 'a full store', makeFault: fullDisk },
  { store: 'a read-only store', makeFault: readOnlyStore },
])('the devhost fails closed on $store', ({ makeFault }) => {
  it('acknowledges nothing it did not store, answers 503 at every door, and resumes by itself', async () => {
    const fault = makeFault();
    const file = tempDb();
    const logger = capturingLogger();
    const h: DurableHarness = await startDurableHarness({ storage: file, logger });
    const base = `${h.url}/runtime/webhooks/durabletask`;
    try {
      // Acknowledged before the fault: waiting instances, and one whose activity is in flight.
      const waiting = [await h.start('waitThenWork', undefined, 'wait-1'), await h.start('waitThenWork', undefined, 'wait-2')];
      const gateKey = `faults-${fault.sqliteText}`;
      const working = await h.start('eventAfterWork', { gateKey }, 'working');
      for (const id of waiting) await h.until(id, (b) => b['runtimeStatus'] === 'Running');
      await until('the gate activity to start', () => probe().gates.has(gateKey));

      fault.inject(h.host.db);

      // The first write after the fault fails: the caller gets 503, never 202.
      const first = await post(h.keyed(`${base}/orchestrators/echoInput/first-failed`), JSON.stringify(fault.bigInput));
      expect(first.status).toBe(503);
      expect(first.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(await first.text()).toContain(fault.sqliteText);

      // During the fault every door answers 503 with Retry-After and takes nothing.
      const doors: [string, () => Promise<Response>][] = [
        ['durable API start', () => post(h.keyed(`${base}/orchestrators/echoInput/during-fault`), '"x"')],
        ['app door (durable-functions client startNew)', () => post(`${h.url}/api/orchestrators/echoInput/during-fault-app`, '"x"')],
        ['raise event', () => post(h.keyed(`${base}/instances/${waiting[0]}/raiseEvent/go`), '"early"')],
        ['status read', () => fetch(h.keyed(`${base}/instances/${waiting[0]}`))],
        ['SDK client op (app door)', () => post(`${h.url}/api/client`, JSON.stringify({ op: 'getStatus', args: [waiting[0]] }))],
        ['admin API', () => fetch(`${h.url}/admin/durable/instances`, { headers: { 'x-functions-key': h.host.keys.keys.masterKey } })],
      ];
      for (const [door, call] of doors) {
        const res = await call();
        await res.arrayBuffer();
        expect(res.status, door).toBe(503);
        expect(res.headers.get('retry-after'), door).toMatch(/^\d+$/);
      }

      // Work that finishes during the fault queues behind the failed commit; nothing new runs.
      const activitiesBefore = h.durable.engine.stats.activities;
      openGate(gateKey);
      await until('the in-flight activity to finish', () => h.durable.engine.stats.activities > activitiesBefore);
      const episodes = h.durable.engine.stats.episodes;
      await turns();
      expect(h.durable.engine.stats.episodes).toBe(episodes);

      // The file holds only what was acknowledged or committed before the fault.
      const stored = storedInstances(file);
      expect(stored.get('working')).toBe('Running');
      expect(stored.has('during-fault')).toBe(false);
      expect(stored.has('during-fault-app')).toBe(false);

      fault.clear(h.host.db);

      // Recovers by itself, without a restart.
      await until('the status API to answer again', async () => (await h.status(waiting[0] ?? '')).status === 202);
      fault.recoveredBy(h.host.db);

      // Every instance acknowledged before the fault completes.
      for (const id of waiting) expect(await h.raise(id, 'go', id)).toBe(202);
      expect(await h.raise(working, 'go', 'one')).toBe(202);
      expect(await h.raise(working, 'go', 'two')).toBe(202);
      for (const id of waiting) expect(outputOf(await h.finished(id))).toBe(id);
      expect(outputOf(await h.finished(working))).toEqual({ first: 'one', second: 'two' });
      const gateResults = h.durable.engine.history(working).filter((e) => e.EventType === EventType.TaskCompleted);
      expect(gateResults).toHaveLength(1);

      // What was refused during the fault never happened.
      expect((await h.status('during-fault')).status).toBe(404);
      expect((await h.status('during-fault-app')).status).toBe(404);

      // New work is taken again.
      const after = await h.start('echoInput', 'after the fault');
      expect(outputOf(await h.finished(after))).toBe('after the fault');

      // The log names SQLite's error, not a follow-up one.
      expect(logger.lines.some((line) => line.startsWith('error') && line.includes(fault.sqliteText))).toBe(true);
      expect(logger.lines.join('\n')).not.toContain('cannot rollback');
    } finally {
      await h.stop();
    }
  }, 30_000);
});

describe('Service Bus store on a failing database', () => {
  it('refuses a send it cannot store (503) and works again after the connection is reopened', async () => {
    const db = openDatabase(tempDb());
    const health = storageHealth(db);
    const store = new ServiceBusQueueStore(db);
    const fault = readOnlyStore();
    try {
      store.send('orders', { body: 'before' });
      fault.inject(db);
      const refused = (() => {
        try {
          store.send('orders', { body: 'during' });
          return undefined;
        } catch (error) {
          return error as Error & { status?: number; retryable?: boolean };
        }
      })();
      expect(refused?.name).toBe('StorageUnavailableError');
      expect(refused?.status).toBe(503);
      expect(refused?.retryable).toBe(true);
      expect(refused?.message).toContain('attempt to write a readonly database');
      expect(health.healthy).toBe(false);
      expect(() => store.receive('orders', { maxMessages: 1, lockDurationInMs: 1000 })).toThrow(/cannot write its state store/);

      fault.clear(db);
      await health.whenHealthy();
      expect(health.generation).toBeGreaterThan(0);
      // Statements of the closed connection were prepared again.
      store.send('orders', { body: 'after' });
      expect(store.peek('orders').map((m) => m.body)).toEqual(['before', 'after']);
    } finally {
      health.close();
      db.close();
    }
  });

  it('refuses a send on a full store without storing part of it', async () => {
    const db = openDatabase(tempDb());
    const health = storageHealth(db);
    const store = new ServiceBusQueueStore(db);
    const fault = fullDisk();
    try {
      fault.inject(db);
      expect(() => store.send('orders', [{ body: 'small' }, { body: fault.bigInput }])).toThrow(/database or disk is full/);
      fault.clear(db);
      await health.whenHealthy();
      expect(store.count('orders')).toBe(0);
      store.send('orders', { body: fault.bigInput });
      expect(store.count('orders')).toBe(1);
    } finally {
      health.close();
      db.close();
    }
  });
});

describe('transactions', () => {
  it('rethrow the original error when SQLite already rolled the transaction back', () => {
    const db = new DatabaseSync(':memory:');
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)');
    db.exec('INSERT INTO t VALUES (1)');
    // INSERT OR ROLLBACK makes SQLite end the transaction itself, as it does after SQLITE_FULL
    // or an I/O error during COMMIT; a blind ROLLBACK would fail with "cannot rollback".
    expect(() => inTransaction(db, () => db.exec('INSERT OR ROLLBACK INTO t VALUES (1)'))).toThrow(/UNIQUE constraint failed/);
    expect(db.isTransaction).toBe(false);
    db.close();
  });
});

/** A devhost database file (every table created) that SQLite can read but not write (header write version 3). */
async function unwritableStore(): Promise<string> {
  const file = tempDb();
  await (await startDurableHarness({ storage: file })).stop();
  const fd = openSync(file, 'r+');
  writeSync(fd, Buffer.from([3]), 0, 1, 18);
  closeSync(fd);
  return file;
}

describe('a store that cannot be opened writable', () => {
  it('stops the devhost at start with SQLite’s error', async () => {
    const storage = await unwritableStore();
    await expect(startDurableHarness({ storage })).rejects.toThrow(/cannot write its state store .*devhost\.db: attempt to write a readonly database/);
  });

  const cli = devhostCliPath;
  it.skipIf(!existsSync(cli))('makes the CLI exit non-zero naming the SQLite error', async () => {
    const storage = await unwritableStore();
    const error = await spawnDevhost(['--app', join(repoRoot, 'tests', 'fixtures', 'durable-app'), '--storage', storage]).catch((e: unknown) => e);
    expect(String(error)).toContain('exited with 1');
    expect(String(error)).toContain('attempt to write a readonly database');
  });
});

describe('durable store: a change that is broken (not a storage fault)', () => {
  it('is dropped and logged, the rest of its batch is stored, and the store stays healthy', () => {
    const db = openDatabase(tempDb());
    const errors: string[] = [];
    const logger = { debug: () => {}, info: () => {}, warn: () => {}, error: (m: string) => errors.push(m) } as unknown as DevhostLogger;
    const store = new DurableStore(db, logger);
    const record = (instanceId: string) => ({
      instanceId,
      name: 'probe',
      executionId: 'e1',
      status: 'Running' as const,
      input: null,
      output: null,
      customStatus: null,
      createdAt: 1,
      updatedAt: 1,
      parentInstanceId: null,
      parentExecutionId: null,
      parentTaskId: null,
    });
    store.defer(() => store.saveInstance(record('before')));
    store.defer(() => {
      throw new TypeError('a bug in one unit');
    });
    store.defer(() => store.saveInstance(record('after')));
    store.flush();
    expect(storageHealth(db).healthy).toBe(true);
    const ids = (db.prepare('SELECT instance_id FROM durable_instances ORDER BY instance_id').all() as { instance_id: string }[]).map((r) => r.instance_id);
    expect(ids).toEqual(['after', 'before']);
    expect(errors.join('\n')).toContain('a bug in one unit');
    store.close();
  });
});
