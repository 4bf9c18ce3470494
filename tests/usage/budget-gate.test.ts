import { describe, expect, it } from 'vitest';
import { StaticTenantDirectory } from '../../shared/tenancy/tenant-directory.js';
import { TenantSchema } from '../../shared/tenancy/tenant.js';
import { TenantBudget, type BudgetExhaustedError } from '../../shared/usage/budget-gate.js';

/** The budget gate's per-process cache of period usage, against a fake clock and a fake ledger. */

const TTL_MS = 15_000;
const tenant = TenantSchema.parse({
  id: 'contoso',
  status: 'active',
  allowedAgents: ['a'],
  planOverrides: { tokenBudgetPerPeriod: 1_000, billingPeriod: 'daily', softLimitPercent: 80 },
});

function setup(startMs = Date.UTC(2026, 11, 2, 10, 0, 0)) {
  const clock = { ms: startMs };
  const ledger = {
    used: 0,
    reads: [] as { startMs: number; endMs: number }[],
    gate: undefined as Promise<void> | undefined,
    async periodUsage(_tenantId: string, periodStartMs: number, periodEndMs: number): Promise<number> {
      this.reads.push({ startMs: periodStartMs, endMs: periodEndMs });
      const used = this.used;
      await this.gate;
      return used;
    },
  };
  const budget = new TenantBudget({ usage: ledger, tenants: new StaticTenantDirectory([tenant]), now: () => clock.ms, cacheTtlMs: TTL_MS });
  return { clock, ledger, budget };
}

const refusal = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e as BudgetExhaustedError,
  );

describe('TenantBudget: the cache and its bound', () => {
  it('reads the ledger at most once per TTL per tenant: usage spent inside the TTL is seen only after it', async () => {
    const { clock, ledger, budget } = setup();
    ledger.used = 900;
    await budget.admit(tenant);
    expect(ledger.reads).toHaveLength(1);
    // Another instance spends past the budget: this one keeps admitting until its reading is TTL old.
    ledger.used = 1_200;
    clock.ms += TTL_MS - 1;
    await budget.admit(tenant);
    expect(await budget.status('contoso')).toMatchObject({ used: 900 });
    expect(ledger.reads).toHaveLength(1);
    clock.ms += 1;
    const error = await refusal(budget.admit(tenant));
    expect(error).toMatchObject({ name: 'BudgetExhaustedError', code: 'budget_exhausted', status: 429 });
    expect(ledger.reads).toHaveLength(2);
  });

  it('refuses with Retry-After = whole seconds to the next period start (daily: next UTC midnight)', async () => {
    const { clock, ledger, budget } = setup();
    ledger.used = 1_000;
    clock.ms = Date.UTC(2026, 11, 2, 23, 59, 58, 500);
    const error = await refusal(budget.admit(tenant));
    expect(error?.headers).toEqual({ 'retry-after': '2' });
    expect(error?.extensions).toMatchObject({ retryAfterSeconds: 2, budget: 1_000, used: 1_000, periodEnd: '2026-12-03T00:00:00.000Z' });
  });

  it('a new period reads again at once, whatever the TTL, and counts only that period', async () => {
    const { clock, ledger, budget } = setup(Date.UTC(2026, 11, 2, 23, 59, 59));
    ledger.used = 1_000;
    expect(await refusal(budget.admit(tenant))).toBeDefined();
    ledger.used = 0;
    clock.ms += 1_000;
    await budget.admit(tenant);
    expect(ledger.reads).toEqual([
      { startMs: Date.UTC(2026, 11, 2), endMs: Date.UTC(2026, 11, 3) },
      { startMs: Date.UTC(2026, 11, 3), endMs: Date.UTC(2026, 11, 4) },
    ]);
  });

  it('concurrent checks share one ledger read', async () => {
    const { ledger, budget } = setup();
    let open: () => void = () => undefined;
    ledger.gate = new Promise<void>((resolve) => (open = resolve));
    const checks = Array.from({ length: 20 }, () => budget.admit(tenant));
    open();
    await Promise.all(checks);
    expect(ledger.reads).toHaveLength(1);
  });

  it('a ledger outage after a reading keeps the stale reading instead of closing the door', async () => {
    const { clock, ledger, budget } = setup();
    ledger.used = 100;
    await budget.admit(tenant);
    ledger.gate = Promise.reject(new Error('storage down'));
    ledger.gate.catch(() => undefined);
    clock.ms += TTL_MS;
    await budget.admit(tenant);
    expect(await budget.status('contoso')).toMatchObject({ used: 100, budget: 1_000, softLimit: 800 });
  });

  it('tenants without a budget are never read', async () => {
    const { ledger } = setup();
    const free = TenantSchema.parse({ id: 'fabrikam', status: 'active', allowedAgents: ['a'] });
    const budget = new TenantBudget({ usage: ledger, tenants: new StaticTenantDirectory([free]), now: () => 0, cacheTtlMs: TTL_MS });
    await budget.admit(free);
    expect(await budget.status('fabrikam')).toBeUndefined();
    expect(await budget.status('unknown')).toBeUndefined();
    expect(ledger.reads).toHaveLength(0);
  });
});
