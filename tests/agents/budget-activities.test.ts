import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AgentCatalog } from '../../shared/agents/agent-catalog.js';
import { createAgentActivities } from '../../shared/agent-runtime/agent-activities.js';
import type { RunEvent, RunEventSink } from '../../shared/agent-runtime/run-events.js';
import type { AgentRunInput } from '../../shared/agent-runtime/run-types.js';
import type { AuditAct, AuditLog } from '../../shared/audit/audit-log.js';
import { AuditRunEventSink } from '../../shared/audit/audit-sink.js';
import { createModelGateway } from '../../shared/model/model-gateway.js';
import { createScriptedModelClient, textTurn } from '../../shared/model/scripted-model-client.js';
import { TenantBlobSpace, type BlobStore } from '../../shared/storage/blob-store.js';
import { MemoryBlobStore } from '../../shared/storage/memory-blob-store.js';
import type { BudgetStatus, RunBudgetCheck } from '../../shared/usage/budget-gate.js';

/**
 * The `callModel` activity against the tenant budget (an injected check, faked here): a spent
 * budget returns `budget_exhausted` without calling the model; crossing the soft limit emits
 * `budget.soft_limit_reached` exactly once per tenant and period, across runs, instances
 * (activity sets sharing one store) and retries.
 */

const catalog = AgentCatalog.fromDirectory(join(import.meta.dirname, '..', '..', 'agents'));
const NOW = Date.UTC(2026, 11, 2, 20);

/** A budget check with a settable usage (1,000 tokens a month, soft limit at 80 %). */
class FakeBudget implements RunBudgetCheck {
  used = 0;
  async status(tenantId: string): Promise<BudgetStatus> {
    return {
      tenantId,
      budget: 1_000,
      billingPeriod: 'monthly',
      used: this.used,
      periodStartMs: Date.UTC(2026, 11, 1),
      periodEndMs: Date.UTC(2027, 0, 1),
      softLimit: 800,
      softLimitPercent: 80,
    };
  }
}

/** Records events; can be told to fail the next emit of a type (a required subscriber's outage). */
class Events implements RunEventSink {
  readonly events: RunEvent[] = [];
  failNext = new Set<string>();
  async emit(event: RunEvent): Promise<void> {
    if (this.failNext.delete(event.type)) throw new Error(`sink down for ${event.type}`);
    this.events.push(event);
  }
  of(type: string): RunEvent[] {
    return this.events.filter((e) => e.type === type);
  }
}

/** One "instance": its own activities (and process caches) over a shared store, budget and sink. */
async function instance(shared: { blobs: BlobStore; budget: FakeBudget; events: Events }, turns = 10) {
  const model = createScriptedModelClient(Array.from({ length: turns }, () => textTurn('Done.')));
  const gateway = createModelGateway({
    clients: () => model,
    clock: { nowMs: () => 0, sleep: async () => {} },
    circuit: { failureThreshold: 3, cooldownMs: 1000 },
    maxAttemptsPerDeployment: 1,
    retryAfterCapMs: 0,
  });
  const activities = createAgentActivities({
    blobs: shared.blobs,
    gateway,
    tools: new Map(),
    events: shared.events,
    nowMs: () => NOW,
    budget: shared.budget,
    egress: { local: true, resolve: async () => Promise.reject(new Error('no DNS in this test')) },
    egressAllowList: async () => [],
  });
  return { activities, model };
}

async function startRun(activities: Awaited<ReturnType<typeof instance>>['activities'], suffix: string) {
  const agent = await catalog.resolve('contoso', 'support-triage');
  const run: AgentRunInput = {
    tenantId: 'contoso',
    runId: `contoso--budget${suffix}`,
    agent,
    input: { inline: 'My export is empty' },
    variables: { productName: 'Contoso CRM' },
    initiator: { kind: 'cli', id: 'test' },
    correlationId: `corr-${suffix}`,
    depth: 0,
  };
  const { agent: ref } = await activities.prepareRun({ run });
  return { ...run, agent: ref, turn: 1, messageCount: 0, userInput: run.input, toolOutcomes: [] };
}

function fresh() {
  return { blobs: new MemoryBlobStore(), budget: new FakeBudget(), events: new Events() };
}

describe('callModel and the tenant budget', () => {
  it('returns budget_exhausted without calling the model once the budget is spent', async () => {
    const shared = fresh();
    const { activities, model } = await instance(shared);
    const step = await startRun(activities, 'a');
    shared.budget.used = 1_000;
    const out = await activities.callModel(step);
    expect(out.failure).toEqual({ code: 'budget_exhausted', message: expect.stringContaining('1000 of 1000 tokens') });
    expect(out.usage).toEqual({ inputTokens: 0, outputTokens: 0, modelCalls: 0 });
    expect(model.calls).toHaveLength(0);
    expect(shared.events.of('model.called')).toHaveLength(0);
  });

  it('calls the model while the budget lasts', async () => {
    const shared = fresh();
    const { activities, model } = await instance(shared);
    shared.budget.used = 999;
    const out = await activities.callModel(await startRun(activities, 'b'));
    expect(out.failure).toBeUndefined();
    expect(model.calls).toHaveLength(1);
  });

  it('a step whose answer was already stored returns it on a retry, even if the budget ran out meanwhile', async () => {
    const shared = fresh();
    const { activities, model } = await instance(shared);
    const step = await startRun(activities, 'c');
    const first = await activities.callModel(step);
    shared.budget.used = 5_000;
    const again = await activities.callModel(step);
    expect(again).toEqual(first);
    expect(model.calls).toHaveLength(1);
  });
});

describe('soft limit', () => {
  it('emits budget.soft_limit_reached once per tenant and period, across runs and instances', async () => {
    const shared = fresh();
    const a = await instance(shared);
    const b = await instance(shared);
    shared.budget.used = 799;
    await a.activities.callModel(await startRun(a.activities, 'd1'));
    expect(shared.events.of('budget.soft_limit_reached')).toHaveLength(0);
    shared.budget.used = 800;
    await a.activities.callModel(await startRun(a.activities, 'd2'));
    await b.activities.callModel(await startRun(b.activities, 'd3'));
    await a.activities.callModel(await startRun(a.activities, 'd4'));
    // Past the budget too: still the one event.
    shared.budget.used = 1_200;
    await b.activities.callModel(await startRun(b.activities, 'd5'));
    const reached = shared.events.of('budget.soft_limit_reached');
    expect(reached).toHaveLength(1);
    expect(reached[0]).toMatchObject({
      eventId: 'contoso:budget.soft_limit_reached:monthly-2026-12-01',
      tenantId: 'contoso',
      runId: 'contoso--budgetd2',
      data: { budget: 1_000, used: 800, softLimit: 800, softLimitPercent: 80, periodStart: '2026-12-01T00:00:00.000Z', periodEnd: '2027-01-01T00:00:00.000Z' },
    });
    const marker = await new TenantBlobSpace(shared.blobs, 'contoso').get('usage/budget/soft-limit/monthly-2026-12-01.json');
    expect(JSON.parse(marker?.toString('utf8') ?? '{}')).toMatchObject({ claimedBy: 'contoso--budgetd2#1' });
  });

  it('a budget jump straight past the limit still reports the soft limit, then refuses the call', async () => {
    const shared = fresh();
    const { activities } = await instance(shared);
    shared.budget.used = 2_000;
    const out = await activities.callModel(await startRun(activities, 'e'));
    expect(out.failure?.code).toBe('budget_exhausted');
    expect(shared.events.of('budget.soft_limit_reached')).toHaveLength(1);
  });

  it('a retry of the step that claimed the marker re-emits the same event (its first emit failed); other steps do not', async () => {
    const shared = fresh();
    const a = await instance(shared);
    const b = await instance(shared);
    shared.budget.used = 900;
    const step = await startRun(a.activities, 'f1');
    shared.events.failNext.add('budget.soft_limit_reached');
    await expect(a.activities.callModel(step)).rejects.toThrow(/sink down/);
    expect(shared.events.of('budget.soft_limit_reached')).toHaveLength(0);
    // Another run on another instance finds the marker claimed by someone else: it emits nothing.
    await b.activities.callModel(await startRun(b.activities, 'f2'));
    expect(shared.events.of('budget.soft_limit_reached')).toHaveLength(0);
    // The activity's retry (Durable, possibly on another instance) owns the claim and emits it, with the first attempt's data.
    await b.activities.callModel(step);
    const reached = shared.events.of('budget.soft_limit_reached');
    expect(reached).toHaveLength(1);
    expect(reached[0]).toMatchObject({ runId: 'contoso--budgetf1', data: { used: 900, reachedAt: new Date(NOW).toISOString() } });
  });

  it('is an act in the audit trail', async () => {
    const acts: AuditAct[] = [];
    const log = { append: async (act: AuditAct) => void acts.push(act) } as unknown as AuditLog;
    const sink = new AuditRunEventSink(log, new MemoryBlobStore());
    await sink.emit({
      eventId: 'contoso:budget.soft_limit_reached:monthly-2026-12-01',
      type: 'budget.soft_limit_reached',
      tenantId: 'contoso',
      runId: 'contoso--x',
      correlationId: 'c',
      at: new Date(NOW).toISOString(),
      data: { budget: 1_000, used: 800, softLimit: 800, softLimitPercent: 80, periodStart: '2026-12-01T00:00:00.000Z', periodEnd: '2027-01-01T00:00:00.000Z' },
    });
    expect(acts).toEqual([
      expect.objectContaining({
        actId: 'contoso:budget.soft_limit_reached:monthly-2026-12-01',
        act: 'budget.soft_limit_reached',
        actor: { kind: 'system', id: 'budget' },
        details: expect.objectContaining({ budget: 1_000, used: 800, softLimitPercent: 80 }),
      }),
    ]);
  });
});
