import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DurableStore, type InstanceRecord, type RuntimeStatus } from '../../devhost/durable/durable-store.js';
import type { DevhostLogger } from '../../devhost/host/logger.js';
import { openDatabase } from '../../devhost/host/storage.js';
import { startDurableHarness } from './durable-test-kit.js';

/**
 * What keeps the cost of a run independent of how many runs the store holds (issue 19): the
 * engine keeps only unfinished instances in memory (finished ones live in SQLite alone), and the
 * store's indexes are created on a database an earlier devhost made.
 */

const dirs: string[] = [];
function tempDb(): string {
  const dir = mkdtempSync(join(tmpdir(), 'durable-growth-'));
  dirs.push(dir);
  return join(dir, 'devhost.db');
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('the engine keeps only unfinished instances in memory', () => {
  it('retires every instance that finishes, and still answers its status from the store', async () => {
    const h = await startDurableHarness();
    try {
      const waiting = await h.start('waitForever');
      const ids = await Promise.all(Array.from({ length: 20 }, (_, i) => h.start('echoInput', { i })));
      for (const id of ids) expect((await h.finished(id)).status).toBe('Completed');
      expect(h.durable.engine.liveInstances).toBe(1);

      expect(await h.raise(waiting, 'never', 'late')).toBe(202);
      expect((await h.finished(waiting)).status).toBe('Completed');
      expect(h.durable.engine.liveInstances).toBe(0);

      const status = await h.status(ids[7] as string);
      expect(status.status).toBe(200);
      expect(status.body['output']).toEqual({ i: 7 });
      expect(await h.raise(ids[7] as string, 'never')).toBe(410);
    } finally {
      await h.stop();
    }
  });
});

describe('durable store schema on a database an earlier devhost made', () => {
  it('replaces the created_at index by (created_at, instance_id) and still finds the unfinished instances', () => {
    const file = tempDb();
    const logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} } as unknown as DevhostLogger;
    const old = openDatabase(file);
    // The table and indexes as earlier versions created them.
    old.exec(`
      CREATE TABLE durable_instances (
        instance_id TEXT PRIMARY KEY, name TEXT NOT NULL, execution_id TEXT NOT NULL, status TEXT NOT NULL,
        input TEXT, output TEXT, custom_status TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
        parent_instance_id TEXT, parent_execution_id TEXT, parent_task_id INTEGER
      );
      CREATE INDEX durable_instances_status ON durable_instances (status);
      CREATE INDEX durable_instances_created ON durable_instances (created_at);
    `);
    const statuses: RuntimeStatus[] = ['Pending', 'Running', 'Completed', 'ContinuedAsNew', 'Failed', 'Canceled', 'Terminated', 'Suspended'];
    const insert = old.prepare('INSERT INTO durable_instances (instance_id, name, execution_id, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)');
    statuses.forEach((status, i) => insert.run(`i${i}`, 'probe', 'e1', status, 100 - i, 100 - i));
    old.close();

    const db = openDatabase(file);
    const store = new DurableStore(db, logger);
    const indexes = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'durable_instances'").all() as { name: string }[]).map((r) => r.name);
    expect(indexes).toContain('durable_instances_created_id');
    expect(indexes).toContain('durable_instances_status');
    expect(indexes).not.toContain('durable_instances_created');

    const active = store.activeInstances().map((r: InstanceRecord) => [r.instanceId, r.status]);
    // Oldest first: i7 (created 93) ... i0 (created 100).
    expect(active).toEqual([
      ['i7', 'Suspended'],
      ['i3', 'ContinuedAsNew'],
      ['i1', 'Running'],
      ['i0', 'Pending'],
    ]);
    const page = store.queryInstances({ limit: 3, offset: 2 }).map((r) => r.instanceId);
    expect(page).toEqual(['i5', 'i4', 'i3']);
    db.close();
  });
});
