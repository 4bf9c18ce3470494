import { AppError } from '../errors.js';
import type { BudgetGate } from '../runs/admission.js';
import { TenantBlobSpace, type BlobStore } from '../storage/blob-store.js';
import { billingPeriodAt, type BillingPeriod } from '../tenancy/plan.js';
import { effectivePlan, type Tenant } from '../tenancy/tenant.js';
import type { TenantDirectory } from '../tenancy/tenant-directory.js';
import type { UsageLedger } from './usage-ledger.js';

/**
 * Per-tenant token budgets (issue 15): admission refuses a new run once the tenant's period
 * budget is spent, and the `callModel` activity stops a running run before its next model call.
 *
 * Usage is read from the ledger at most once per `cacheTtlMs` per tenant and process (one read in
 * flight at a time), so no request pays a remote round trip once its tenant's usage is cached.
 * The price is a bounded overshoot (shared/usage/README.md): a tenant may spend at most the tokens
 * all instances spend in one TTL after the budget is reached, plus the model calls already past
 * the check (at most one per running run).
 */

/** 429: the tenant's token budget for the billing period is spent; new runs are admitted again at the next period start. */
export class BudgetExhaustedError extends AppError {
  override readonly name = 'BudgetExhaustedError';
  constructor(exhaustion: BudgetExhaustion) {
    const periodEnd = new Date(exhaustion.periodEndMs).toISOString();
    super('budget_exhausted', 429, `The tenant's token budget for this billing period is spent (${exhaustion.used} of ${exhaustion.budget} tokens); it renews at ${periodEnd}.`, {
      extensions: { retryAfterSeconds: exhaustion.retryAfterSeconds, budget: exhaustion.budget, used: exhaustion.used, periodEnd },
      headers: { 'retry-after': String(exhaustion.retryAfterSeconds) },
    });
  }
}

/** Where a tenant stands against its budget in the current period (only for tenants with a budget). */
export interface BudgetStatus {
  tenantId: string;
  /** Tokens per period (the effective plan's `tokenBudgetPerPeriod`). */
  budget: number;
  billingPeriod: BillingPeriod;
  /** Tokens counted in the period so far, as of the cached read. */
  used: number;
  periodStartMs: number;
  periodEndMs: number;
  /** `softLimitPercent` of the budget, in tokens. */
  softLimit: number;
  softLimitPercent: number;
}

export interface BudgetExhaustion extends BudgetStatus {
  /** Whole seconds until the next period starts (at least 1). */
  retryAfterSeconds: number;
}

/** What the `callModel` activity and batch preparation ask before spending tokens (injected in `AgentRuntimeDeps`). */
export interface RunBudgetCheck {
  /** The tenant's status against its budget; undefined when it has none (or is unknown). */
  status(tenantId: string): Promise<BudgetStatus | undefined>;
}

export interface TenantBudgetOptions {
  usage: Pick<UsageLedger, 'periodUsage'>;
  tenants: Pick<TenantDirectory, 'get'>;
  /** Milliseconds since the epoch. */
  now: () => number;
  /** How long a tenant's period usage is reused before the ledger is read again (`BUDGET_CACHE_TTL_MS`). */
  cacheTtlMs: number;
}

interface CachedUsage {
  periodStartMs: number;
  used: number;
  readAtMs: number;
}

/** True when the status says the budget is spent. */
export function isExhausted(status: BudgetStatus): boolean {
  return status.used >= status.budget;
}

/** The exhaustion facts (with `retryAfterSeconds` until the next period) of a spent budget. */
export function exhaustionOf(status: BudgetStatus, nowMs: number): BudgetExhaustion {
  return { ...status, retryAfterSeconds: Math.max(1, Math.ceil((status.periodEndMs - nowMs) / 1000)) };
}

/**
 * The budget gate of the admission path and the run-time check, over one per-process cache of
 * each tenant's period usage.
 */
export class TenantBudget implements BudgetGate, RunBudgetCheck {
  readonly #options: TenantBudgetOptions;
  readonly #cache = new Map<string, CachedUsage>();
  readonly #inFlight = new Map<string, Promise<CachedUsage>>();

  constructor(options: TenantBudgetOptions) {
    this.#options = options;
  }

  /** Throws {@link BudgetExhaustedError} (429, `Retry-After` = seconds to the next period) when the tenant's budget is spent. */
  async admit(tenant: Tenant): Promise<void> {
    const status = await this.statusOf(tenant);
    if (status && isExhausted(status)) throw new BudgetExhaustedError(exhaustionOf(status, this.#options.now()));
  }

  async status(tenantId: string): Promise<BudgetStatus | undefined> {
    const tenant = await this.#options.tenants.get(tenantId);
    return tenant ? this.statusOf(tenant) : undefined;
  }

  /** The tenant's status from cached usage (read again once older than the TTL, or in a new period). */
  async statusOf(tenant: Tenant): Promise<BudgetStatus | undefined> {
    const plan = effectivePlan(tenant);
    if (plan.tokenBudgetPerPeriod === undefined) return undefined;
    const nowMs = this.#options.now();
    const { startMs, endMs } = billingPeriodAt(plan.billingPeriod, nowMs);
    const used = (await this.#usage(tenant.id, startMs, endMs, nowMs)).used;
    const budget = plan.tokenBudgetPerPeriod;
    return {
      tenantId: tenant.id,
      budget,
      billingPeriod: plan.billingPeriod,
      used,
      periodStartMs: startMs,
      periodEndMs: endMs,
      softLimit: Math.ceil((budget * plan.softLimitPercent) / 100),
      softLimitPercent: plan.softLimitPercent,
    };
  }

  async #usage(tenantId: string, startMs: number, endMs: number, nowMs: number): Promise<CachedUsage> {
    const cached = this.#cache.get(tenantId);
    if (cached && cached.periodStartMs === startMs && nowMs - cached.readAtMs < this.#options.cacheTtlMs) return cached;
    const key = `${tenantId}\n${startMs}`;
    let pending = this.#inFlight.get(key);
    if (!pending) {
      pending = this.#options.usage
        .periodUsage(tenantId, startMs, endMs)
        .then((used) => {
          const fresh = { periodStartMs: startMs, used, readAtMs: nowMs };
          this.#cache.set(tenantId, fresh);
          return fresh;
        })
        .catch((error: unknown) => {
          // A ledger outage does not close the door while a reading of this period exists: the
          // stale value is used (and the next request reads again).
          if (cached && cached.periodStartMs === startMs) return cached;
          throw error;
        })
        .finally(() => this.#inFlight.delete(key));
      this.#inFlight.set(key, pending);
    }
    return pending;
  }
}

/** The run event emitted (once per tenant and period) when a tenant's usage crosses its soft limit. */
export const SOFT_LIMIT_EVENT = 'budget.soft_limit_reached';

/** True when the status is at or over the soft limit. */
export function isOverSoftLimit(status: BudgetStatus): boolean {
  return status.used >= status.softLimit;
}

/** The write-once marker of a period's soft limit, in the tenant's space (`usage/` is not writable by tools). */
export function softLimitMarkerPath(status: Pick<BudgetStatus, 'billingPeriod' | 'periodStartMs'>): string {
  return `usage/budget/soft-limit/${status.billingPeriod}-${new Date(status.periodStartMs).toISOString().slice(0, 10)}.json`;
}

/** What the marker holds: who claimed the period's soft-limit event, and the event's data (repeated as is on a retry). */
export interface SoftLimitClaim {
  eventId: string;
  /** The activity attempt that claimed it: only the same step re-emits after a failed emit. */
  claimedBy: string;
  data: Record<string, unknown>;
}

/**
 * Claims the period's soft-limit event (write-once, if-none-match) for `claimedBy` (a run step)
 * and returns the period's claim: this one when newly written, else the stored one. Only the
 * step named in it emits the event (and again on its own retry, which finds its claim), so the
 * event is emitted once per tenant and period across runs, instances and retries.
 */
export async function claimSoftLimit(blobs: BlobStore, status: BudgetStatus, claimedBy: string, atMs: number): Promise<SoftLimitClaim> {
  const space = new TenantBlobSpace(blobs, status.tenantId);
  const path = softLimitMarkerPath(status);
  const claim: SoftLimitClaim = {
    eventId: `${status.tenantId}:${SOFT_LIMIT_EVENT}:${path.slice(path.lastIndexOf('/') + 1, -'.json'.length)}`,
    claimedBy,
    data: {
      budget: status.budget,
      used: status.used,
      softLimit: status.softLimit,
      softLimitPercent: status.softLimitPercent,
      billingPeriod: status.billingPeriod,
      periodStart: new Date(status.periodStartMs).toISOString(),
      periodEnd: new Date(status.periodEndMs).toISOString(),
      reachedAt: new Date(atMs).toISOString(),
    },
  };
  const written = await space.put(path, JSON.stringify(claim), { contentType: 'application/json', ifNoneMatch: true });
  if (written.created) return claim;
  const raw = await space.get(path);
  // (A marker that vanished between the two calls: nobody else owns it now; this step's claim stands.)
  return raw ? (JSON.parse(raw.toString('utf8')) as SoftLimitClaim) : claim;
}
