import { createHash, randomUUID } from 'node:crypto';
import type { AppConfig } from '../config.js';
import { ForbiddenError, ValidationError } from '../errors.js';
import { enforceRateLimit } from '../http/front-door.js';
import type { RateLimiter } from '../http/rate-limiter.js';
import { resolveActiveTenant, type TenantDirectory } from '../tenancy/tenant-directory.js';
import type { Tenant } from '../tenancy/tenant.js';

/**
 * Admission: the one path every door (runs API, webhooks, queue, bot, batches) takes to turn an
 * authenticated caller into a run. It checks, in order, that the tenant exists and is active,
 * that it may run the agent, its rate budget, and its token budget for the billing period (the
 * budget gate, shared/usage/budget-gate.ts, wired in the composition root), and it names the run.
 *
 * Run ids are namespaced on the server side by door (and, for webhooks, source): a caller's
 * idempotency key only ever names runs of its own door and tenant, so a queue message cannot
 * name (squat) a webhook delivery's run, nor an API caller a queue request's.
 */

/** The doors runs come through. */
export type Door = 'api' | 'webhook' | 'queue' | 'bot' | 'batch';

/** Refuses a run over the tenant's token budget: throws the door's answer (429 `budget_exhausted` with Retry-After). */
export interface BudgetGate {
  admit(tenant: Tenant, agentId: string): Promise<void>;
}

export interface AdmissionDeps {
  config: Pick<AppConfig, 'frontDoor'>;
  tenants: TenantDirectory;
  rateLimiter: RateLimiter;
  budget?: BudgetGate;
}

export interface AdmissionRequest {
  door: Door;
  /** The tenant the door authenticated: its id (resolved here) or its record (already resolved, e.g. from a Teams tenant). */
  tenant: string | Tenant;
  agentId: string;
  /** The door's idempotency key (caller-supplied or derived); omitted: a new run every time. */
  idempotencyKey?: string | undefined;
  /** A namespace inside the door (the webhook source). */
  scope?: string;
  /** Count the request against the tenant's rate budget (default true; batch items were counted as one batch). */
  rateLimit?: boolean;
  /** Prompt variables the caller asks for: each must be one the agent declares. */
  variables?: Record<string, string> | undefined;
  /** The variables the agent declares (its definition's `variables`), to check `variables` against. */
  declaredVariables?: Readonly<Record<string, string>>;
}

export interface Admission {
  tenant: Tenant;
  agentId: string;
  runId: string;
}

/**
 * The Durable instance id of a run: the tenant id, then an opaque part derived from door, scope
 * and idempotency key (so a redelivered request maps to the same instance), or random.
 */
export function runIdFor(tenantId: string, door: Door, idempotencyKey?: string, scope = ''): string {
  const opaque =
    idempotencyKey === undefined
      ? randomUUID().replaceAll('-', '')
      : createHash('sha256').update(`${tenantId}\n${door}\n${scope}\n${idempotencyKey}`).digest('base64url').slice(0, 32);
  return `${tenantId}--${opaque}`;
}

/** Admits a run or throws the door's answer (404/403 tenant, 403 agent, 429 rate, 400 variables, 429 budget_exhausted). */
export async function admitRun(deps: AdmissionDeps, request: AdmissionRequest): Promise<Admission> {
  const tenant = typeof request.tenant === 'string' ? await resolveActiveTenant(deps.tenants, request.tenant) : request.tenant;
  if (tenant.status !== 'active') throw new ForbiddenError(`Tenant "${tenant.id}" is suspended.`, 'tenant_suspended');
  if (!tenant.allowedAgents.includes(request.agentId)) {
    throw new ForbiddenError(`Agent "${request.agentId}" is not allowed for tenant "${tenant.id}".`, 'agent_not_allowed');
  }
  if (request.variables) {
    const declared = request.declaredVariables ?? {};
    const unknown = Object.keys(request.variables).filter((name) => !Object.hasOwn(declared, name));
    if (unknown.length > 0) {
      throw new ValidationError(
        `Agent "${request.agentId}" declares no variable ${unknown.map((n) => `"${n}"`).join(', ')}.`,
        unknown.map((n) => `variables.${n}: not a variable of the agent`),
      );
    }
  }
  if (request.rateLimit !== false) {
    enforceRateLimit(deps.rateLimiter, tenant.id, tenant.rateLimitPerMinute ?? deps.config.frontDoor.defaultRateLimitPerMinute);
  }
  await deps.budget?.admit(tenant, request.agentId);
  return { tenant, agentId: request.agentId, runId: runIdFor(tenant.id, request.door, request.idempotencyKey, request.scope) };
}
