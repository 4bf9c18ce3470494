import { z } from 'zod';

/**
 * Plans: what a tenant has bought. Named plans are data in the tenant catalog (`plans:` beside
 * `tenants:` locally, `plans.yaml` beside the tenant records in Blob); a tenant names one
 * (`plan: standard`) and may override any field (`planOverrides:`). {@link resolvePlan} merges
 * them into the one effective plan the control plane acts on.
 */

const Slug = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'must be a lower-case slug');
/** Feature flag names: `telemetry.content`, `tool.http_request`, ... */
const FlagName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'must be a flag name (letters, digits, . _ : -)');

export const BILLING_PERIODS = ['monthly', 'weekly', 'daily'] as const;
export type BillingPeriod = (typeof BILLING_PERIODS)[number];

const planFields = {
  /** Model tokens (input + output, every deployment) per billing period; unset: no budget. */
  tokenBudgetPerPeriod: z.number().int().min(0).max(1e15),
  /** Billing period, in UTC: a calendar month (default), an ISO week starting Monday, or a day. */
  billingPeriod: z.enum(BILLING_PERIODS),
  /** Percentage of the budget at which the soft limit is reached (an event, not a refusal). */
  softLimitPercent: z.number().int().min(1).max(100),
  /** Runs of this tenant that may be in flight at once; unset: no limit. */
  maxConcurrentRuns: z.number().int().min(1).max(100_000),
  /** Relative weight of this tenant's share of model capacity (1 = an equal share). */
  modelCapacityShare: z.number().positive().max(1_000),
  /** Agents the plan includes (used when the tenant lists none of its own). */
  allowedAgents: z.array(Slug),
  /** Front-door requests per minute per instance; unset: the deployment default. */
  rateLimitPerMinute: z.number().int().min(1).max(1_000_000),
  /** Feature flags the plan turns on or off. */
  featureFlags: z.record(FlagName, z.boolean()),
};

/** A named plan in the catalog. Unknown keys are refused, so a misspelt limit is never ignored. */
export const PlanSchema = z.strictObject({
  displayName: z.string().min(1).max(200).optional(),
  tokenBudgetPerPeriod: planFields.tokenBudgetPerPeriod.optional(),
  billingPeriod: planFields.billingPeriod.default('monthly'),
  softLimitPercent: planFields.softLimitPercent.default(80),
  maxConcurrentRuns: planFields.maxConcurrentRuns.optional(),
  modelCapacityShare: planFields.modelCapacityShare.default(1),
  allowedAgents: planFields.allowedAgents.default([]),
  rateLimitPerMinute: planFields.rateLimitPerMinute.optional(),
  featureFlags: planFields.featureFlags.default({}),
});
export type Plan = z.infer<typeof PlanSchema>;

/** A tenant's overrides of its plan: any plan field; feature flags are merged flag by flag. */
export const PlanOverridesSchema = z.strictObject({
  tokenBudgetPerPeriod: planFields.tokenBudgetPerPeriod.optional(),
  billingPeriod: planFields.billingPeriod.optional(),
  softLimitPercent: planFields.softLimitPercent.optional(),
  maxConcurrentRuns: planFields.maxConcurrentRuns.optional(),
  modelCapacityShare: planFields.modelCapacityShare.optional(),
  allowedAgents: planFields.allowedAgents.optional(),
  rateLimitPerMinute: planFields.rateLimitPerMinute.optional(),
  featureFlags: planFields.featureFlags.optional(),
});
export type PlanOverrides = z.infer<typeof PlanOverridesSchema>;

/** Named plans: `{ standard: {...}, enterprise: {...} }`. */
export const PlansSchema = z.record(Slug, PlanSchema);
export type Plans = Readonly<Record<string, Plan>>;

/** The plans document in Blob (`plans.yaml` beside the tenant records). */
export const PlansDocumentSchema = z.strictObject({ plans: PlansSchema.default({}) });

/** The plan a tenant gets when it names none: no budget, no concurrency cap, an equal share. */
export const DEFAULT_PLAN_NAME = 'default';

/** One tenant's plan after merging: what budgets, admission and fair sharing act on. */
export interface EffectivePlan {
  /** The named plan, or `default` when the tenant names none. */
  name: string;
  tokenBudgetPerPeriod?: number;
  billingPeriod: BillingPeriod;
  softLimitPercent: number;
  maxConcurrentRuns?: number;
  modelCapacityShare: number;
  allowedAgents: string[];
  rateLimitPerMinute?: number;
  featureFlags: Record<string, boolean>;
}

/** What {@link resolvePlan} reads from a tenant record. */
export interface PlanReferences {
  plan?: string | undefined;
  planOverrides?: PlanOverrides | undefined;
  /** The tenant's own list; when non-empty it wins over the plan's. */
  allowedAgents: readonly string[];
  /** The tenant's own rate limit (an older field); when set it wins over the plan's. */
  rateLimitPerMinute?: number | undefined;
}

/**
 * Merges, later winning: the default plan, the named plan, the tenant's `planOverrides`, then
 * the tenant's own `allowedAgents` (when it lists any) and `rateLimitPerMinute` (when set), which
 * predate plans and keep working. Feature flags merge by flag. Throws on an unknown plan name
 * (catalog loaders report that as a catalog problem first).
 */
export function resolvePlan(tenant: PlanReferences, plans: Plans): EffectivePlan {
  const name = tenant.plan ?? DEFAULT_PLAN_NAME;
  const named: Plan | undefined = tenant.plan === undefined ? PlanSchema.parse({}) : plans[tenant.plan];
  if (!named) throw new Error(`unknown plan "${name}"`);
  const o = tenant.planOverrides ?? {};
  const pick = <K extends keyof PlanOverrides>(key: K) => (o[key] !== undefined ? o[key] : (named as PlanOverrides)[key]);
  const tokenBudgetPerPeriod = pick('tokenBudgetPerPeriod');
  const maxConcurrentRuns = pick('maxConcurrentRuns');
  const rateLimitPerMinute = tenant.rateLimitPerMinute ?? pick('rateLimitPerMinute');
  return {
    name,
    ...(tokenBudgetPerPeriod !== undefined ? { tokenBudgetPerPeriod } : {}),
    billingPeriod: o.billingPeriod ?? named.billingPeriod,
    softLimitPercent: o.softLimitPercent ?? named.softLimitPercent,
    ...(maxConcurrentRuns !== undefined ? { maxConcurrentRuns } : {}),
    modelCapacityShare: o.modelCapacityShare ?? named.modelCapacityShare,
    allowedAgents: [...(tenant.allowedAgents.length > 0 ? tenant.allowedAgents : (o.allowedAgents ?? named.allowedAgents))],
    ...(rateLimitPerMinute !== undefined ? { rateLimitPerMinute } : {}),
    featureFlags: { ...named.featureFlags, ...(o.featureFlags ?? {}) },
  };
}

/** The billing period containing `atMs`, in UTC: `[startMs, endMs)`. */
export function billingPeriodAt(period: BillingPeriod, atMs: number): { startMs: number; endMs: number } {
  const d = new Date(atMs);
  const [y, m, day] = [d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()];
  if (period === 'monthly') return { startMs: Date.UTC(y, m, 1), endMs: Date.UTC(y, m + 1, 1) };
  if (period === 'daily') return { startMs: Date.UTC(y, m, day), endMs: Date.UTC(y, m, day + 1) };
  const sinceMonday = (d.getUTCDay() + 6) % 7;
  return { startMs: Date.UTC(y, m, day - sinceMonday), endMs: Date.UTC(y, m, day - sinceMonday + 7) };
}
