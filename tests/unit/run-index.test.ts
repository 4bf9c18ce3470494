import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAzurite, type AzuriteHandle } from '../../devhost/local-services/azurite.js';
import { indexRun, isRunIndexPath, listIndexedRuns, runIndexPath } from '../../shared/agent-runtime/run-index.js';
import { AzureBlobStore } from '../../shared/storage/azure-blob-store.js';
import { TenantBlobSpace, type BlobStore } from '../../shared/storage/blob-store.js';
import { MemoryBlobStore } from '../../shared/storage/memory-blob-store.js';

/**
 * The per-tenant run index the runs list pages through: newest first by name, resumable after
 * any entry, idempotent, and the same on the in-memory store and on real Blob (Azurite).
 */

let azurite: AzuriteHandle;
beforeAll(async () => {
  azurite = await startAzurite();
}, 60_000);
afterAll(async () => {
  await azurite?.stop();
});

const stores: [string, () => BlobStore][] = [
  ['memory', () => new MemoryBlobStore()],
  ['Azurite', () => new AzureBlobStore({ kind: 'connection-string', connectionString: azurite.connectionString, container: `idx${Date.now().toString(36)}` })],
];

describe.each(stores)('run index on the %s blob store', (_label, makeStore) => {
  it('lists newest first, resumes after an entry, and ignores a repeated write', async () => {
    const store = makeStore();
    const contoso = new TenantBlobSpace(store, 'contoso');
    const t0 = Date.parse('2026-03-01T00:00:00Z');
    const ids = Array.from({ length: 7 }, (_v, i) => `contoso--run${String(i).padStart(17, '0')}`);
    for (const [i, id] of ids.entries()) await indexRun(contoso, id, new Date(t0 + i * 60_000).toISOString());
    await indexRun(contoso, ids[3] ?? '', new Date(t0 + 3 * 60_000).toISOString()); // a retried activity
    await indexRun(new TenantBlobSpace(store, 'fabrikam'), 'fabrikam--run00000000000000000', new Date(t0 + 99 * 60_000).toISOString());

    const first = await listIndexedRuns(contoso, 3);
    expect(first.map((e) => e.runId)).toEqual([ids[6], ids[5], ids[4]]);
    const second = await listIndexedRuns(contoso, 3, first.at(-1)?.path);
    expect(second.map((e) => e.runId)).toEqual([ids[3], ids[2], ids[1]]);
    const third = await listIndexedRuns(contoso, 3, second.at(-1)?.path);
    expect(third.map((e) => e.runId)).toEqual([ids[0]]);
    expect(await listIndexedRuns(contoso, 3, third.at(-1)?.path)).toEqual([]);
    expect([...first, ...second, ...third].every((e) => isRunIndexPath(e.path))).toBe(true);
  });
});

describe('run index paths', () => {
  it('sort newer runs first and refuse anything else as a cursor', () => {
    const older = runIndexPath('contoso--a', Date.parse('2026-01-01T00:00:00Z'));
    const newer = runIndexPath('contoso--b', Date.parse('2026-01-02T00:00:00Z'));
    expect(newer < older).toBe(true);
    expect(isRunIndexPath(older)).toBe(true);
    expect(isRunIndexPath('documents/secret.md')).toBe(false);
    expect(isRunIndexPath('runs-index/../x.json')).toBe(false);
  });
});
