import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../../shared/agent-runtime/run-events.js';
import { MemoryBlobStore } from '../../shared/storage/memory-blob-store.js';
import { UsageLedger, UsagePaths, byDay } from '../../shared/usage/usage-ledger.js';

const T0 = Date.parse('2026-12-02T20:00:00Z');
const MIN = 60_000;
const HOUR = 60 * MIN;

function event(eventId: string, type: string, atMs: number, data: Record<string, unknown> = {}, tenantId = 'contoso'): RunEvent {
  return { eventId, type, tenantId, runId: `${tenantId}--r1`, correlationId: 'c', at: new Date(atMs).toISOString(), data };
}
const modelCalled = (turn: number, atMs: number, deployment = 'gpt-4o-mini', tenantId = 'contoso') =>
  event(`${tenantId}--r1:model.called:${turn}`, 'model.called', atMs, { turn, deployment, inputTokens: 100, outputTokens: 20 }, tenantId);

describe('usage ledger', () => {
  it('counts a repeated event once, in one process and across instances', async () => {
    const blobs = new MemoryBlobStore();
    let now = T0 + 10 * MIN;
    const a = new UsageLedger(blobs, { now: () => now });
    const b = new UsageLedger(blobs, { now: () => now });
    expect(await a.record(modelCalled(1, now))).toEqual({ created: true });
    expect(await a.record(modelCalled(1, now))).toEqual({ created: false });
    // Another instance retrying the same activity, concurrently with a third attempt.
    const again = await Promise.all([b.record(modelCalled(1, now)), a.record(modelCalled(1, now))]);
    expect(again).toEqual([{ created: false }, { created: false }]);
    await a.emit(event('contoso--r1:run.started', 'run.started', now));
    await b.emit(event('contoso--r1:run.started', 'run.started', now));
    await a.emit(event('contoso--r1:tool.executed:call_1', 'tool.executed', now, { ok: true }));
    await b.emit(event('contoso--r1:run.completed', 'run.completed', now, { status: 'completed' }));
    await a.emit(event('contoso--r1:model.waiting', 'model.waiting', now));
    now = T0 + 30 * MIN;
    expect(await b.hours('contoso', T0, T0 + HOUR)).toEqual([
      {
        start: '2026-12-02T20:00:00.000Z',
        usage: { 'tokens.input:gpt-4o-mini': 100, 'tokens.output:gpt-4o-mini': 20, 'runs.started': 1, 'tool.calls': 1, 'runs.completed': 1 },
      },
    ]);
    expect(await a.periodUsage('contoso', T0, T0 + HOUR)).toBe(120);
  });

  it('keeps a retry in the hour of the first attempt, and completes an attempt that died after its claim', async () => {
    const blobs = new MemoryBlobStore();
    const ledger = new UsageLedger(blobs, { now: () => T0 + 3 * HOUR });
    await ledger.record(modelCalled(1, T0 + 59 * MIN));
    // The retry's own time is in the next hour: it still counts once, in the first hour.
    await ledger.record(modelCalled(1, T0 + 61 * MIN));
    // An attempt that wrote its claim and died before its entry: the retry writes the entry.
    await ledger.record(modelCalled(2, T0 + HOUR + 5 * MIN));
    const entries = await blobs.list(`tenants/contoso/${UsagePaths.hourPrefix}2026-12-02T21/`);
    expect(entries).toHaveLength(1);
    await blobs.delete((entries[0] as { path: string }).path);
    await ledger.record(modelCalled(2, T0 + 2 * HOUR + 5 * MIN));
    const hours = await ledger.hours('contoso', T0, T0 + 3 * HOUR);
    expect(hours.map((h) => [h.start, h.usage['tokens.input:gpt-4o-mini']])).toEqual([
      ['2026-12-02T20:00:00.000Z', 100],
      ['2026-12-02T21:00:00.000Z', 100],
    ]);
  });

  it('buckets by UTC hour and day, per deployment and per tenant, for [from, to)', async () => {
    const blobs = new MemoryBlobStore();
    const ledger = new UsageLedger(blobs, { now: () => T0 + 48 * HOUR });
    const day2 = Date.parse('2026-12-03T00:00:00Z');
    await ledger.record(modelCalled(1, T0 - HOUR + 1));
    await ledger.record(modelCalled(2, T0 + 5));
    await ledger.record(modelCalled(3, T0 + HOUR - 1, 'gpt-4o'));
    await ledger.record(modelCalled(4, day2 + 2 * HOUR));
    await ledger.record(modelCalled(1, T0 + 5, 'gpt-4o-mini', 'fabrikam'));
    const hours = await ledger.hours('contoso', T0, day2 + 24 * HOUR);
    expect(hours.map((h) => h.start)).toEqual(['2026-12-02T20:00:00.000Z', '2026-12-03T02:00:00.000Z']);
    expect(hours[0]?.usage).toEqual({ 'tokens.input:gpt-4o-mini': 100, 'tokens.output:gpt-4o-mini': 20, 'tokens.input:gpt-4o': 100, 'tokens.output:gpt-4o': 20 });
    // `to` is exclusive: the hour starting at T0 + 1h is not in [T0, T0 + 1h).
    expect((await ledger.hours('contoso', T0, T0 + HOUR)).map((h) => h.start)).toEqual(['2026-12-02T20:00:00.000Z']);
    // `from` inside an hour includes that hour.
    expect((await ledger.hours('contoso', T0 - 1, T0 + HOUR)).map((h) => h.start)).toEqual(['2026-12-02T19:00:00.000Z', '2026-12-02T20:00:00.000Z']);
    const days = byDay(await ledger.hours('contoso', Date.parse('2026-12-02T00:00:00Z'), day2 + 24 * HOUR));
    expect(days).toEqual([
      { start: '2026-12-02T00:00:00.000Z', usage: { 'tokens.input:gpt-4o-mini': 200, 'tokens.output:gpt-4o-mini': 40, 'tokens.input:gpt-4o': 100, 'tokens.output:gpt-4o': 20 } },
      { start: '2026-12-03T00:00:00.000Z', usage: { 'tokens.input:gpt-4o-mini': 100, 'tokens.output:gpt-4o-mini': 20 } },
    ]);
    expect(await ledger.periodUsage('fabrikam', T0 - 24 * HOUR, T0 + 24 * HOUR)).toBe(120);
    expect(await ledger.periodUsage('contoso', Date.parse('2026-12-01T00:00:00Z'), Date.parse('2027-01-01T00:00:00Z'))).toBe(480);
  });

  it('rolls a closed hour up once and still counts an entry that lands after the rollup', async () => {
    const blobs = new MemoryBlobStore();
    let now = T0 + 30 * MIN;
    const ledger = new UsageLedger(blobs, { now: () => now, rollupDelayMs: HOUR });
    await ledger.record(modelCalled(1, T0 + MIN));
    await ledger.hours('contoso', T0, T0 + HOUR);
    expect(await blobs.get(`tenants/contoso/${UsagePaths.rollup('2026-12-02T20')}`)).toBeUndefined();
    now = T0 + 2 * HOUR;
    // A reader without write access (the CLI) sums the entries and stores nothing.
    expect((await new UsageLedger(blobs, { now: () => now, writeRollups: false }).hours('contoso', T0, T0 + HOUR))[0]?.usage['tokens.input:gpt-4o-mini']).toBe(100);
    expect(await blobs.get(`tenants/contoso/${UsagePaths.rollup('2026-12-02T20')}`)).toBeUndefined();
    expect((await ledger.hours('contoso', T0, T0 + HOUR))[0]?.usage['tokens.input:gpt-4o-mini']).toBe(100);
    const rollup = JSON.parse(String(await blobs.get(`tenants/contoso/${UsagePaths.rollup('2026-12-02T20')}`))) as { entries: string[] };
    expect(rollup.entries).toHaveLength(1);
    // A late entry (an attempt that claimed in that hour and completed only now).
    await ledger.record(modelCalled(2, T0 + 2 * MIN));
    expect((await ledger.hours('contoso', T0, T0 + HOUR))[0]?.usage['tokens.input:gpt-4o-mini']).toBe(200);
    expect((await ledger.hours('contoso', T0, T0 + HOUR))[0]?.usage['tokens.input:gpt-4o-mini']).toBe(200);
  });

  it('counts canceled and failed runs apart, and ignores events without usage', async () => {
    const blobs = new MemoryBlobStore();
    const ledger = new UsageLedger(blobs, { now: () => T0 + HOUR });
    await ledger.record(event('r2:run.completed', 'run.completed', T0, { status: 'canceled' }));
    await ledger.record(event('r3:run.failed', 'run.failed', T0, { error: 'x' }));
    expect(await ledger.record(event('r4:model.called:1', 'model.called', T0, { deployment: 'd', inputTokens: 0, outputTokens: -3 }))).toBeUndefined();
    expect(await ledger.record(event('r4:approval.requested', 'approval.requested', T0))).toBeUndefined();
    expect(await ledger.hours('contoso', T0, T0 + HOUR)).toEqual([{ start: '2026-12-02T20:00:00.000Z', usage: { 'runs.canceled': 1, 'runs.failed': 1 } }]);
  });
});
