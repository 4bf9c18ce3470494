import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatchRunInput, BatchRunOutput, BatchSummaryInput } from '../../shared/batch/batch-types.js';
import { batchInstanceId } from '../../shared/batch/batch-types.js';
import { AzureBlobStore } from '../../shared/storage/azure-blob-store.js';
import { DurableApi, startAgentStack, type AgentStack, type Status } from '../helpers/agent-stack.js';
import { eventually } from '../helpers/eventually.js';

/**
 * Scheduled batches end to end: the real app on the devhost, the `batchScheduler` timer fired
 * through the admin API, `batchRun` fanning out `agentRun` sub-orchestrations against the offline
 * model. The schedule is daily at midnight with a one-day catch-up window, so "the current slot"
 * is stable while the test runs, and the scheduler's own timer is set to fire only on 1 January,
 * so only the test's admin invocations run it.
 */

const ITEMS = ['alpha', 'beta', 'gamma', 'delta', 'epsilon'];
const MAX_CONCURRENCY = 2;
let stack: AgentStack;
let api: DurableApi;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'batch-e2e-'));
  const file = join(dir, 'schedules.yaml');
  writeFileSync(
    file,
    [
      'schedules:',
      '  - id: daily-topics',
      '    tenantId: contoso',
      '    agent: doc-summarizer',
      '    cron: "0 0 0 * * *"',
      `    maxConcurrency: ${MAX_CONCURRENCY}`,
      '    input:',
      `      items: [${ITEMS.map((t) => `{topic: ${t}}`).join(', ')}]`,
      '      template: { template: "Report on {{/topic}}" }',
      '  - id: switched-off',
      '    tenantId: contoso',
      '    agent: doc-summarizer',
      '    cron: "0 0 0 * * *"',
      '    enabled: false',
      '    input: { items: [1] }',
    ].join('\n'),
  );
  stack = await startAgentStack({
    BATCH_SCHEDULES_FILE: file,
    BATCH_SCHEDULER_SCHEDULE: '0 0 0 1 1 *',
    BATCH_SCHEDULER_CATCH_UP_MS: String(86_400_000),
  });
  api = new DurableApi(stack.devhost);
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

async function fireScheduler(): Promise<void> {
  const res = await fetch(`${stack.devhost.url}/admin/functions/batchScheduler`, {
    method: 'POST',
    headers: { 'x-functions-key': stack.devhost.keys.keys.masterKey, 'content-type': 'application/json' },
    body: JSON.stringify({ input: '' }),
  });
  expect(res.status).toBe(202);
}

async function statusOf(id: string): Promise<Status | undefined> {
  const url = `${stack.devhost.url}/runtime/webhooks/durabletask/instances/${encodeURIComponent(id)}?code=${encodeURIComponent(stack.devhost.keys.keys.masterKey)}`;
  const res = await fetch(url);
  if (res.status === 404) {
    await res.body?.cancel();
    return undefined;
  }
  return (await res.json()) as Status;
}

const until = <T>(probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> => eventually('the batch status', probe, { timeoutMs, intervalMs: 20 });

describe('batchScheduler + batchRun', () => {
  it('starts exactly one batch for the due slot, runs items with bounded concurrency, and writes a summary', async () => {
    stack.model.script(ITEMS.map((t) => ({ type: 'text' as const, content: `Report on ${t} done.` })));
    // Every model call takes a while, so runs overlap whenever the window lets them.
    stack.model.setFaults([{ latencyMs: 300 }]);
    const midnight = new Date();
    midnight.setUTCHours(0, 0, 0, 0);
    const batchId = batchInstanceId('contoso', 'daily-topics', midnight.getTime());

    // The timer fires twice in the same slot.
    await fireScheduler();
    await fireScheduler();
    await until(async () => statusOf(batchId));
    const done = await api.done(batchId, 30_000);
    expect(done.runtimeStatus).toBe('Completed');
    const output = done.output as BatchRunOutput;
    const blobs = new AzureBlobStore({ kind: 'connection-string', connectionString: stack.azurite.connectionString, container: 'agent-data' });
    const summary = JSON.parse((await blobs.get(`tenants/contoso/${output.summaryPath}`))?.toString('utf8') ?? 'null') as BatchSummaryInput;
    expect(output).toMatchObject({ batchId, total: ITEMS.length, completed: ITEMS.length, failed: 0 });

    // Never more agent runs (hence model calls) in flight than the schedule allows, and some overlap.
    const stats = stack.model.stats();
    expect(stats.maxInFlight).toBe(MAX_CONCURRENCY);
    expect(stats.requestCount).toBe(ITEMS.length);
    expect(
      stack.model
        .requests()
        .map((r) => JSON.stringify(r.body))
        .filter((b) => b.includes('Report on gamma')),
    ).toHaveLength(1);

    // A firing after the batch finished starts nothing either (Durable would restart a finished id).
    await fireScheduler();
    await new Promise((r) => setTimeout(r, 300));
    expect((await statusOf(batchId))?.runtimeStatus).toBe('Completed');
    expect(stack.model.stats().requestCount).toBe(ITEMS.length);

    // The disabled schedule never started.
    expect(await statusOf(batchInstanceId('contoso', 'switched-off', midnight.getTime()))).toBeUndefined();

    expect(summary).toMatchObject({ batchId, scheduleId: 'daily-topics', tenantId: 'contoso', agentId: 'doc-summarizer', maxConcurrency: MAX_CONCURRENCY });
    expect(summary.items).toHaveLength(ITEMS.length);
    expect(summary.items.every((i) => i.status === 'completed' && i.runId.startsWith('contoso--'))).toBe(true);
    expect(summary.items.map((i) => i.source)).toEqual(ITEMS.map((_t, i) => `items[${i}]`));
    // Item runs are ordinary runs of the tenant.
    const first = summary.items[0];
    expect((await statusOf(first?.runId ?? ''))?.runtimeStatus).toBe('Completed');
  });

  it('records an item that does not fit the template as failed, starts no run for it, and runs the rest', async () => {
    stack.model.reset();
    stack.model.script([
      { type: 'text', content: 'Report on eta done.' },
      { type: 'text', content: 'Report on theta done.' },
    ]);
    const batchId = 'batch.contoso.adhoc-mixed.20260101T000000Z';
    const input: BatchRunInput = {
      batchId,
      scheduleId: 'adhoc-mixed',
      tenantId: 'contoso',
      agentId: 'doc-summarizer',
      slot: '2026-01-01T00:00:00.000Z',
      maxConcurrency: 2,
      input: { items: [{ topic: 'eta' }, { subject: 'no topic here' }, { topic: 'theta' }], template: { template: 'Report on {{/topic}}' } },
      variables: {},
      initiator: { kind: 'schedule', id: 'adhoc-mixed' },
      correlationId: 'batch-mixed',
    };
    const res = await fetch(`${stack.devhost.url}/runtime/webhooks/durabletask/orchestrators/batchRun/${batchId}?code=${encodeURIComponent(stack.devhost.keys.keys.masterKey)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(input),
    });
    expect(res.status).toBe(202);
    const done = await api.done(batchId, 30_000);
    expect(done.runtimeStatus).toBe('Completed');
    expect(done.output).toMatchObject({ total: 3, completed: 2, failed: 1 });
    const blobs = new AzureBlobStore({ kind: 'connection-string', connectionString: stack.azurite.connectionString, container: 'agent-data' });
    const summary = JSON.parse((await blobs.get(`tenants/contoso/${(done.output as BatchRunOutput).summaryPath}`))?.toString('utf8') ?? 'null') as BatchSummaryInput;
    expect(summary.items.map((i) => [i.source, i.status])).toEqual([
      ['items[0]', 'completed'],
      ['items[1]', 'failed'],
      ['items[2]', 'completed'],
    ]);
    const bad = summary.items[1];
    expect(bad?.error).toMatch(/\/topic/);
    expect(await statusOf(bad?.runId ?? '')).toBeUndefined();
    expect(stack.model.stats().requestCount).toBe(2);
  });
});
