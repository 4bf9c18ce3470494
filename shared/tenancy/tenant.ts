import { z } from 'zod';
import { ProblemListError } from '../errors.js';
import { parseEgressEntry } from '../tools/egress-policy.js';
import { InputMappingSchema } from '../webhooks/payload-mapping.js';
import { PlanOverridesSchema, PlansSchema, resolvePlan, type EffectivePlan, type Plans } from './plan.js';

/**
 * A tenant as the control plane describes it. Validated with zod wherever it is loaded (local
 * file, Blob), so a bad record is reported with every problem and never half-applied.
 */

/**
 * Our tenant id: a lower-case slug without `--`, because run ids are `${tenantId}--<opaque>` and
 * the tenant must be recoverable from a run id without a lookup.
 */
export const TENANT_ID_PATTERN = /^[a-z0-9](?!.*--)[a-z0-9-]{0,61}[a-z0-9]$/;
export const TenantIdSchema = z.string().regex(TENANT_ID_PATTERN, 'must be a lower-case slug (2-63 chars, no "--")');

const Slug = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'must be a lower-case slug');
/** Entra ids are GUIDs; tokens carry them in lower case. */
const Guid = z
  .string()
  .regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, 'must be a GUID')
  .transform((v) => v.toLowerCase());
/** Hosts tools may reach for this tenant: `host[:port]`, `*.suffix[:port]` or `[ipv6][:port]` (port default 443). */
const HostPattern = z
  .string()
  .refine((entry) => parseEgressEntry(entry, { local: true }) !== undefined, 'must be host[:port], *.suffix[:port] or [ipv6][:port] with a port of 1-65535');

export const WebhookSourceSchema = z.strictObject({
  /**
   * Name of the signing secret in the secrets provider (a Key Vault secret name in Azure). The
   * secret itself never sits in the catalog.
   */
  secretRef: z.string().regex(/^[0-9A-Za-z-]{1,127}$/, 'must be a Key Vault secret name (letters, digits, dashes)'),
  /** The agent a delivery starts. Must be one of the tenant's `allowedAgents`. */
  agent: Slug,
  /** Payload → agent input. Default: the whole payload. */
  input: InputMappingSchema.default({ pointer: '' }),
  /** Extra prompt variables for runs from this source. */
  variables: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/), z.string().max(4096)).optional(),
  /** A disabled source is treated as if it did not exist (401, like a bad signature). */
  enabled: z.boolean().default(true),
  /**
   * How deliveries are signed: `standard-webhooks` (default; the delivery id is signed) or
   * `legacy-hmac` (`x-signature` over timestamp and body, for existing integrations). See
   * docs/webhooks.md.
   */
  signatureScheme: z.enum(['standard-webhooks', 'legacy-hmac']).default('standard-webhooks'),
});
export type WebhookSource = z.infer<typeof WebhookSourceSchema>;

/** A Service Bus queue name, or a prefix of one followed by `*`. */
const ReplyQueuePattern = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._/-]{0,259}\*?$/, 'must be a Service Bus queue name, or a prefix of one followed by *');

/** True when `tenant` may have replies published to `queue` (queue names are case-insensitive). */
export function replyQueueAllowed(tenant: Pick<Tenant, 'replyQueues'>, queue: string): boolean {
  const name = queue.toLowerCase();
  return tenant.replyQueues.some((pattern) => {
    const p = pattern.toLowerCase();
    return p.endsWith('*') ? name.startsWith(p.slice(0, -1)) : name === p;
  });
}

export const TenantSchema = z
  .strictObject({
    id: TenantIdSchema,
    displayName: z.string().min(1).max(200).optional(),
    status: z.enum(['active', 'suspended']),
    /** Entra ID (directory) tenant ids whose tokens may act for this tenant (token `tid`). */
    entraTenantIds: z.array(Guid).default([]),
    /** Agents this tenant may run; anything else is refused (deny by default). */
    allowedAgents: z.array(Slug).default([]),
    webhookSources: z.record(z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'source names must be lower-case slugs'), WebhookSourceSchema).default({}),
    /** Microsoft Teams tenant (`channelData.tenant.id`) mapped to this tenant. */
    teamsTenantId: Guid.optional(),
    /** The agent that answers this tenant's Teams / bot messages; unset: the bot refuses them (403). */
    botAgent: Slug.optional(),
    egressAllowList: z.array(HostPattern).default([]),
    /**
     * Service Bus queues this tenant's queued requests may name as their reply queue (`replyTo`);
     * a trailing `*` matches a prefix (`contoso-*`). Anything else is refused (deny by default),
     * so one tenant's results never land in a queue another tenant reads.
     */
    replyQueues: z.array(ReplyQueuePattern).default([]),
    /**
     * Name of this tenant's queue signing secret in the secrets provider (a Key Vault secret name
     * in Azure). In multi-tenant mode the queue door accepts only messages signed with it
     * (shared/queue/queue-signature.ts); a tenant without one cannot use the queue door.
     */
    queueSecretRef: z
      .string()
      .regex(/^[0-9A-Za-z-]{1,127}$/, 'must be a Key Vault secret name (letters, digits, dashes)')
      .optional(),
    /** Front-door requests per minute per instance; the deployment default applies when unset. */
    rateLimitPerMinute: z.number().int().min(1).max(1_000_000).optional(),
    /**
     * This tenant's half of the telemetry content opt-in: prompts, outputs, tool arguments and
     * results are recorded only when this is true AND the environment sets TELEMETRY_CAPTURE_CONTENT.
     */
    captureTelemetryContent: z.boolean().default(false),
    /** The named plan (a key of the catalog's `plans`); unset: the default plan (no budget, no caps). */
    plan: Slug.optional(),
    /** This tenant's overrides of its plan's fields (feature flags merge flag by flag). */
    planOverrides: PlanOverridesSchema.optional(),
  })
  .superRefine((tenant, ctx) => {
    // A tenant that lists no agents of its own and names a plan gets the plan's: checked when the plan is resolved.
    if (tenant.allowedAgents.length === 0 && tenant.plan !== undefined) return;
    if (tenant.botAgent !== undefined && !tenant.allowedAgents.includes(tenant.botAgent)) {
      ctx.addIssue({ code: 'custom', path: ['botAgent'], message: `"${tenant.botAgent}" is not in allowedAgents` });
    }
    for (const [name, source] of Object.entries(tenant.webhookSources)) {
      if (!tenant.allowedAgents.includes(source.agent)) {
        ctx.addIssue({ code: 'custom', path: ['webhookSources', name, 'agent'], message: `"${source.agent}" is not in allowedAgents` });
      }
    }
  });
/**
 * A tenant record. Loaded through a catalog, it carries its `resolvedPlan`, and its
 * `allowedAgents` / `rateLimitPerMinute` are the effective plan's, so every door enforces the plan.
 */
export type Tenant = z.infer<typeof TenantSchema> & { readonly resolvedPlan?: EffectivePlan };

/** The tenant's one effective plan (resolved when its catalog was loaded; else from its own fields and the default plan). */
export function effectivePlan(tenant: Tenant): EffectivePlan {
  return tenant.resolvedPlan ?? resolvePlan({ ...tenant, plan: undefined }, {});
}

/**
 * Resolves a parsed tenant against the catalog's plans. Problems (`path: message`, paths as in
 * the catalog) for an unknown plan and for agents the effective plan does not allow; else the
 * tenant with its effective plan applied.
 */
export function applyPlan(tenant: z.infer<typeof TenantSchema>, plans: Plans, path: readonly (string | number)[]): { tenant?: Tenant; problems: string[] } {
  const at = (...keys: (string | number)[]) => [...path, ...keys].join('.');
  if (tenant.plan !== undefined && !Object.hasOwn(plans, tenant.plan)) {
    const known = Object.keys(plans);
    return { problems: [`${at('plan')}: unknown plan "${tenant.plan}" (${known.length ? `known: ${known.join(', ')}` : 'the catalog defines no plans'})`] };
  }
  const plan = resolvePlan(tenant, plans);
  const problems: string[] = [];
  if (tenant.botAgent !== undefined && !plan.allowedAgents.includes(tenant.botAgent)) problems.push(`${at('botAgent')}: "${tenant.botAgent}" is not in allowedAgents`);
  for (const [name, source] of Object.entries(tenant.webhookSources)) {
    if (!plan.allowedAgents.includes(source.agent)) problems.push(`${at('webhookSources', name, 'agent')}: "${source.agent}" is not in allowedAgents`);
  }
  if (problems.length > 0) return { problems };
  const { rateLimitPerMinute } = plan;
  return { tenant: { ...tenant, allowedAgents: plan.allowedAgents, ...(rateLimitPerMinute !== undefined ? { rateLimitPerMinute } : {}), resolvedPlan: plan }, problems };
}

/** True when some queue name matches both reply-queue patterns (names are case-insensitive). */
export function replyQueuePatternsOverlap(a: string, b: string): boolean {
  const [x, y] = [a.toLowerCase(), b.toLowerCase()];
  const [xPrefix, yPrefix] = [x.endsWith('*'), y.endsWith('*')];
  const [xs, ys] = [xPrefix ? x.slice(0, -1) : x, yPrefix ? y.slice(0, -1) : y];
  if (xPrefix && yPrefix) return xs.startsWith(ys) || ys.startsWith(xs);
  if (xPrefix) return ys.startsWith(xs);
  if (yPrefix) return xs.startsWith(ys);
  return xs === ys;
}

/**
 * A local catalog file: `tenants: [...]`. Across tenants, no two reply-queue patterns may match
 * the same queue: one tenant's results must never land in a queue another tenant reads.
 */
export const TenantCatalogDocumentSchema = z.strictObject({ plans: PlansSchema.default({}), tenants: z.array(TenantSchema) }).superRefine((catalog, ctx) => {
  catalog.tenants.forEach((a, i) => {
    catalog.tenants.slice(i + 1).forEach((b) => {
      for (const p of a.replyQueues) {
        for (const q of b.replyQueues) {
          if (a.id !== b.id && replyQueuePatternsOverlap(p, q)) {
            ctx.addIssue({
              code: 'custom',
              path: ['tenants', i, 'replyQueues'],
              message: `reply queues overlap across tenants: "${p}" of ${a.id} and "${q}" of ${b.id} can match the same queue`,
            });
          }
        }
      }
    });
  });
});

/** Raised when tenant records are invalid; lists every problem. Startup or 500, never the caller's fault. */
export class TenantCatalogError extends ProblemListError {
  override readonly name = 'TenantCatalogError';
  constructor(problems: readonly string[]) {
    super('tenant_catalog_invalid', 'Invalid tenant catalog', problems);
  }
}
