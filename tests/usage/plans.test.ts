import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MemoryBlobStore } from '../../shared/storage/memory-blob-store.js';
import { billingPeriodAt } from '../../shared/tenancy/plan.js';
import { TenantSchema, effectivePlan } from '../../shared/tenancy/tenant.js';
import { BlobTenantDirectory, loadTenantCatalogFile, parseTenantCatalog } from '../../shared/tenancy/tenant-directory.js';

const repoRoot = join(import.meta.dirname, '..', '..');

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    return (error as { problems: string[] }).problems;
  }
  throw new Error('expected a catalog error');
}

const catalog = (plans: string, tenants: string) => `plans:\n${plans}\ntenants:\n${tenants}\n`;

describe('plans', () => {
  it('gives the shipped local tenants their plans, with overrides and older fields winning', () => {
    const directory = loadTenantCatalogFile(join(repoRoot, 'tenants', 'tenants.local.yaml'));
    const contoso = effectivePlan(directory.find('contoso')!);
    const fabrikam = effectivePlan(directory.find('fabrikam')!);
    expect(contoso).toMatchObject({ name: 'enterprise', billingPeriod: 'monthly', softLimitPercent: 90, modelCapacityShare: 4, rateLimitPerMinute: 600 });
    expect(contoso.tokenBudgetPerPeriod).toBeGreaterThan(0);
    expect(fabrikam).toMatchObject({ name: 'standard', maxConcurrentRuns: 10, allowedAgents: ['doc-summarizer'], rateLimitPerMinute: 300 });
  });

  it('resolves one effective plan: default < named plan < planOverrides < the tenant own fields', () => {
    const [gold, bare, own] = parseTenantCatalog(
      catalog(
        '  gold: { tokenBudgetPerPeriod: 1000, maxConcurrentRuns: 5, allowedAgents: [doc-summarizer], rateLimitPerMinute: 50, featureFlags: { a: true, b: true } }',
        [
          '  - { id: t1, status: active, plan: gold, planOverrides: { maxConcurrentRuns: 7, featureFlags: { b: false, c: true } } }',
          '  - { id: t2, status: active }',
          '  - { id: t3, status: active, plan: gold, allowedAgents: [support-triage], rateLimitPerMinute: 9 }',
        ].join('\n'),
      ),
      'inline',
    );
    expect(effectivePlan(gold!)).toEqual({
      name: 'gold',
      tokenBudgetPerPeriod: 1000,
      billingPeriod: 'monthly',
      softLimitPercent: 80,
      maxConcurrentRuns: 7,
      modelCapacityShare: 1,
      allowedAgents: ['doc-summarizer'],
      rateLimitPerMinute: 50,
      featureFlags: { a: true, b: false, c: true },
    });
    // The doors read allowedAgents / rateLimitPerMinute from the record: they are the plan's.
    expect(gold).toMatchObject({ allowedAgents: ['doc-summarizer'], rateLimitPerMinute: 50 });
    expect(effectivePlan(bare!)).toEqual({ name: 'default', billingPeriod: 'monthly', softLimitPercent: 80, modelCapacityShare: 1, allowedAgents: [], featureFlags: {} });
    expect(effectivePlan(own!)).toMatchObject({ allowedAgents: ['support-triage'], rateLimitPerMinute: 9, tokenBudgetPerPeriod: 1000 });
    // A record not loaded through a catalog still resolves (default plan and its own fields).
    expect(effectivePlan(TenantSchema.parse({ id: 'x1', status: 'active', rateLimitPerMinute: 3 }))).toMatchObject({ name: 'default', rateLimitPerMinute: 3 });
  });

  it('lists every bad plan key, unknown plan names and agents the plan does not allow', () => {
    const problems = problemsOf(() =>
      parseTenantCatalog(
        catalog(
          '  gold: { tokenBudgetPerPeriod: -1, billingPeriod: yearly, softLimitPercent: 150, maxConcurrentRuns: 0, modelCapacityShare: 0, rateLimitPerMinute: 0, featureFlags: { ok: maybe }, budget: 5 }\n  Bad Name: {}',
          [
            '  - { id: t1, status: active, plan: platinum }',
            '  - { id: t2, status: active, planOverrides: { softLimitPercent: 0, surprise: 1 } }',
            '  - { id: t3, status: active, plan: silver, botAgent: support-triage }',
          ].join('\n'),
        ).replace('plans:\n', 'plans:\n  silver: { allowedAgents: [doc-summarizer] }\n'),
        'tenants.yaml',
      ),
    );
    const text = problems.join('\n');
    for (const key of [
      'plans.gold.tokenBudgetPerPeriod',
      'plans.gold.billingPeriod',
      'plans.gold.softLimitPercent',
      'plans.gold.maxConcurrentRuns',
      'plans.gold.modelCapacityShare',
      'plans.gold.rateLimitPerMinute',
      'plans.gold.featureFlags.ok',
      'budget',
      'plans.Bad Name',
      'tenants.1.planOverrides.softLimitPercent',
      'surprise',
    ]) {
      expect(text).toContain(key);
    }
    // Plan references are checked once the schema passes.
    const references = problemsOf(() =>
      parseTenantCatalog(
        catalog(
          '  silver: { allowedAgents: [doc-summarizer] }',
          '  - { id: t1, status: active, plan: platinum }\n  - { id: t3, status: active, plan: silver, botAgent: support-triage }',
        ),
        'f',
      ),
    );
    expect(references).toEqual(['f: tenants.0.plan: unknown plan "platinum" (known: silver)', 'f: tenants.1.botAgent: "support-triage" is not in allowedAgents']);
  });

  it('reads plans from plans.yaml beside the Blob tenant records, cached like them', async () => {
    const blobs = new MemoryBlobStore();
    let nowMs = 0;
    await blobs.put('control-plane/plans.yaml', 'plans:\n  gold: { tokenBudgetPerPeriod: 100, allowedAgents: [doc-summarizer] }\n');
    await blobs.put('control-plane/tenants/contoso.yaml', 'id: contoso\nstatus: active\nplan: gold\n');
    await blobs.put('control-plane/tenants/globex.yaml', 'id: globex\nstatus: active\nplan: nope\n');
    const directory = new BlobTenantDirectory(blobs, { prefix: 'control-plane/tenants', cacheTtlMs: 1000, now: () => nowMs });
    const contoso = await directory.get('contoso');
    expect(contoso && effectivePlan(contoso)).toMatchObject({ name: 'gold', tokenBudgetPerPeriod: 100 });
    expect(contoso?.allowedAgents).toEqual(['doc-summarizer']);
    await expect(directory.get('globex')).rejects.toMatchObject({
      name: 'TenantCatalogError',
      problems: [expect.stringContaining('control-plane/tenants/globex.yaml: plan: unknown plan "nope"')],
    });
    // A plan change takes effect once the cache expires, without a restart.
    await blobs.put('control-plane/plans.yaml', 'plans:\n  gold: { tokenBudgetPerPeriod: 200, allowedAgents: [doc-summarizer] }\n');
    nowMs = 1001;
    const later = await directory.get('contoso');
    expect(later && effectivePlan(later).tokenBudgetPerPeriod).toBe(200);
  });

  it('computes billing periods in UTC', () => {
    const at = Date.parse('2026-12-02T20:00:00Z');
    expect(billingPeriodAt('monthly', at)).toEqual({ startMs: Date.parse('2026-12-01T00:00:00Z'), endMs: Date.parse('2027-01-01T00:00:00Z') });
    expect(billingPeriodAt('daily', at)).toEqual({ startMs: Date.parse('2026-12-02T00:00:00Z'), endMs: Date.parse('2026-12-03T00:00:00Z') });
    expect(billingPeriodAt('weekly', at)).toEqual({ startMs: Date.parse('2026-11-30T00:00:00Z'), endMs: Date.parse('2026-12-07T00:00:00Z') });
  });
});
