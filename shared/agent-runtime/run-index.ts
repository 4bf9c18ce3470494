import type { TenantBlobSpace } from '../storage/blob-store.js';

/**
 * A per-tenant index of top-level runs, so the runs list reads only the tenant's own entries
 * instead of every instance in the task hub (durable-functions cannot query by instance-id
 * prefix). One small blob per run in the tenant's blob space:
 * `runs-index/{inverted start ms}_{runId}.json`. The inverted time makes name order newest
 * first, which is the order Blob listings return.
 *
 * Written by the `prepareRun` activity, which every top-level run executes first (runs API,
 * webhooks, queue, batches, bot), with the orchestration's start time: replay-stable, so a
 * retried activity writes the same name (and `ifNoneMatch` makes it a no-op). A run therefore
 * appears in the list once its orchestration has started, normally within milliseconds.
 */
const INDEX_FOLDER = 'runs-index';
/** Larger than any epoch milliseconds this code will see (year 2286), 13 digits. */
const MAX_MS = 9_999_999_999_999;

export interface RunIndexEntry {
  /** Tenant-relative blob path; the list cursor. */
  path: string;
  runId: string;
}

export function runIndexPath(runId: string, startedAtMs: number): string {
  const inverted = String(Math.max(0, MAX_MS - Math.max(0, Math.floor(startedAtMs)))).padStart(13, '0');
  return `${INDEX_FOLDER}/${inverted}_${runId}.json`;
}

/** Records a top-level run in its tenant's index. Idempotent. */
export async function indexRun(space: TenantBlobSpace, runId: string, startedAt: string): Promise<void> {
  const ms = Date.parse(startedAt);
  await space.put(runIndexPath(runId, Number.isNaN(ms) ? 0 : ms), JSON.stringify({ runId, startedAt }), { contentType: 'application/json', ifNoneMatch: true });
}

/** Up to `limit` index entries, newest first, after the entry at `after` (a previous entry's path). */
export async function listIndexedRuns(space: TenantBlobSpace, limit: number, after?: string): Promise<RunIndexEntry[]> {
  const items = await space.list(INDEX_FOLDER, limit, after === undefined ? {} : { startAfter: after });
  const entries: RunIndexEntry[] = [];
  for (const item of items) {
    const match = /^runs-index\/\d{13}_(.+)\.json$/.exec(item.path);
    if (match?.[1]) entries.push({ path: item.path, runId: match[1] });
  }
  return entries;
}

/** True when `path` is a path this module writes (cursors are checked before use). */
export function isRunIndexPath(path: string): boolean {
  return /^runs-index\/\d{13}_[A-Za-z0-9_-][A-Za-z0-9._-]{0,250}\.json$/.test(path);
}
