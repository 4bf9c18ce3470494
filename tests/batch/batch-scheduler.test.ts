import type { DurableClient } from 'durable-functions';
import { describe, expect, it } from 'vitest';
import { batchInstanceId, type BatchRunInput } from '../../shared/batch/batch-types.js';
import { dueSlots, runSchedulerTick, type BatchSchedulerDeps } from '../../shared/batch/batch-scheduler.js';
import { latestSlot } from '../../shared/batch/cron-slots.js';
import { ScheduleSchema, StaticScheduleSource, parseSchedules, type Schedule } from '../../shared/batch/schedule.js';
import { parseConfig } from '../../shared/config.js';
import { StaticTenantDirectory } from '../../shared/tenancy/tenant-directory.js';
import { TenantSchema } from '../../shared/tenancy/tenant.js';

const at = (iso: string): number => Date.parse(iso);

function schedule(overrides: Record<string, unknown> = {}): Schedule {
  return ScheduleSchema.parse({
    id: 'every-five',
    tenantId: 'contoso',
    agent: 'doc-summarizer',
    cron: '0 */5 * * * *',
    maxConcurrency: 2,
    input: { items: [{ topic: 'a' }], template: { template: 'About {{/topic}}' } },
    ...overrides,
  });
}

/** Records starts; getStatus finds what was started, as Durable would. */
function fakeClient() {
  const started = new Map<string, BatchRunInput>();
  const client = {
    async getStatus(id: string) {
      return started.has(id) ? { instanceId: id } : undefined;
    },
    async startNew(name: string, options: { instanceId: string; input: BatchRunInput }) {
      expect(name).toBe('batchRun');
      started.set(options.instanceId, options.input);
      return options.instanceId;
    },
  };
  return { client: client as unknown as DurableClient, started };
}

function depsAt(clock: { now: number }, schedules: Schedule[], env: Record<string, string> = {}): BatchSchedulerDeps {
  const tenants = new StaticTenantDirectory([
    TenantSchema.parse({ id: 'contoso', status: 'active', allowedAgents: ['doc-summarizer'] }),
    TenantSchema.parse({ id: 'fabrikam', status: 'suspended', allowedAgents: ['doc-summarizer'] }),
  ]);
  return { config: parseConfig({ BATCH_SCHEDULER_CATCH_UP_MS: '60000', ...env }), tenants, schedules: new StaticScheduleSource(schedules), now: () => clock.now };
}

describe('cron slots', () => {
  it('finds the latest slot in (after, at], counting a slot exactly at "at"', () => {
    expect(latestSlot('0 */5 * * * *', at('2026-11-26T10:44:00Z'), at('2026-11-26T10:47:13Z'))).toBe(at('2026-11-26T10:45:00Z'));
    expect(latestSlot('0 */5 * * * *', at('2026-11-26T10:44:00Z'), at('2026-11-26T10:45:00Z'))).toBe(at('2026-11-26T10:45:00Z'));
    expect(latestSlot('0 */5 * * * *', at('2026-11-26T10:45:00Z'), at('2026-11-26T10:49:59Z'))).toBeUndefined();
  });

  it('refuses 5-field and malformed expressions when schedules load', () => {
    expect(() => parseSchedules('schedules: [{id: a, tenantId: contoso, agent: x, cron: "*/5 * * * *", input: {items: [1]}}]', 'test.yaml')).toThrow(/6 fields/);
    expect(() => parseSchedules('schedules: [{id: a, tenantId: contoso, agent: x, cron: "0 0 99 * * *", input: {items: [1]}}]', 'test.yaml')).toThrow(/cron/);
    expect(() => parseSchedules('schedules: [{id: a, tenantId: contoso, agent: x, cron: "0 0 1 * * *", input: {}}]', 'test.yaml')).toThrow(/exactly one/);
  });

  it('skips disabled schedules', () => {
    expect(dueSlots([schedule({ enabled: false })], at('2026-11-26T10:45:00Z'), 60_000)).toEqual([]);
  });
});

describe('batchScheduler tick', () => {
  it('starts one batch per due slot; a second firing in the slot starts nothing', async () => {
    const clock = { now: at('2026-11-26T10:45:00.120Z') };
    const { client, started } = fakeClient();
    const deps = depsAt(clock, [schedule()]);
    const first = await runSchedulerTick(deps, client, () => {});
    const id = batchInstanceId('contoso', 'every-five', at('2026-11-26T10:45:00Z'));
    expect(first.started).toEqual([id]);
    clock.now = at('2026-11-26T10:45:40Z');
    const second = await runSchedulerTick(deps, client, () => {});
    expect(second).toMatchObject({ started: [], existing: [id] });
    expect(started.size).toBe(1);
    expect(started.get(id)).toMatchObject({
      tenantId: 'contoso',
      agentId: 'doc-summarizer',
      slot: '2026-11-26T10:45:00.000Z',
      maxConcurrency: 2,
      initiator: { kind: 'schedule', id: 'every-five' },
    });
    // Outside the catch-up window and before the next slot: nothing due.
    clock.now = at('2026-11-26T10:47:00Z');
    expect((await runSchedulerTick(deps, client, () => {})).started).toEqual([]);
    clock.now = at('2026-11-26T10:50:01Z');
    expect((await runSchedulerTick(deps, client, () => {})).started).toEqual([batchInstanceId('contoso', 'every-five', at('2026-11-26T10:50:00Z'))]);
    expect(started.size).toBe(2);
  });

  it('skips a suspended tenant and an agent the tenant may not run, and still starts the rest', async () => {
    const clock = { now: at('2026-11-26T10:45:01Z') };
    const { client, started } = fakeClient();
    const deps = depsAt(clock, [schedule({ id: 'suspended', tenantId: 'fabrikam' }), schedule({ id: 'not-allowed', agent: 'support-triage' }), schedule({ id: 'fine' })]);
    const tick = await runSchedulerTick(deps, client, () => {});
    expect(tick.skipped.map((s) => s.scheduleId).sort()).toEqual(['not-allowed', 'suspended']);
    expect([...started.keys()]).toEqual([batchInstanceId('contoso', 'fine', at('2026-11-26T10:45:00Z'))]);
  });
});
