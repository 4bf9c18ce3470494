import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { DurableClient } from 'durable-functions';
import { z } from 'zod';
import { isRunIndexPath, listIndexedRuns } from '../agent-runtime/run-index.js';
import { startAgentRun, tenantOfRunId } from '../agent-runtime/start-run.js';
import { Orchestrators } from '../agent-runtime/activity-catalog.js';
import { RUN_EVENTS, type ApprovalDecision } from '../agent-runtime/run-types.js';
import { bearerTokenFrom } from '../auth/entra-token-verifier.js';
import {
  RunPermission,
  actorKindOf,
  actorOf,
  type Permission,
  initiatorOf,
  requirePermission,
  requireTenantMatch,
  tenantMismatchError,
  type Principal,
} from '../auth/principal.js';
import type { Deps } from '../composition-root.js';
import { ForbiddenError, NotFoundError, ValidationError } from '../errors.js';
import { TenantBlobSpace } from '../storage/blob-store.js';
import { admitRun } from '../runs/admission.js';
import { TENANT_ID_PATTERN, type Tenant } from '../tenancy/tenant.js';
import { apiBaseUrl, enforceRateLimit, frontDoor, jsonResponse } from './front-door.js';
import { ConflictError } from './http-errors.js';
import { readJsonBody, validate } from './request-body.js';
import { RUN_STATUSES, isFinished, runStatusOf, runSummaryOf, runViewOf, snapshotOf, type InstanceSnapshot, type RunStatus } from './run-view.js';

/**
 * The runs API (DESIGN.md section 3): start, read, list, approve and cancel agent runs for one
 * tenant, authenticated with Entra ID bearer tokens. Every handler authenticates first, then
 * resolves the tenant, checks that the token's directory is mapped to it and holds the needed
 * permission, and spends one request of the tenant's rate budget. Handlers start or query
 * Durable instances and return at once; none calls a model or waits for a run.
 */
export type RunsApiDeps = Pick<Deps, 'config' | 'catalog' | 'tenants' | 'tokens' | 'rateLimiter' | 'requestBlobs'> & Partial<Pick<Deps, 'budget'>>;

/** How a handler reaches the Durable client (`df.getClient(context)` in Azure; a fake in tests). */
export type DurableClientFactory = (context: InvocationContext) => DurableClient;

const StartRunBody = z.strictObject({
  agent: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'must be an agent id (lower-case slug)'),
  input: z.unknown(),
  // No ':' allowed: keeps API keys apart from the `webhook:` and `sb:` keys other doors derive.
  idempotencyKey: z
    .string()
    .regex(/^[A-Za-z0-9._~-]{1,128}$/, 'must be 1-128 characters of A-Z a-z 0-9 . _ ~ -')
    .optional(),
});

const ApprovalBody = z.strictObject({
  toolCallId: z.string().min(1).max(200),
  approved: z.boolean(),
  comment: z.string().max(2000).optional(),
});

const ListQuery = z.strictObject({
  status: z.enum(RUN_STATUSES as [RunStatus, ...RunStatus[]]).optional(),
  pageSize: z.coerce.number().int().min(1).max(100).default(25),
  continuationToken: z.string().max(1000).optional(),
});

const RUN_ID = /^[A-Za-z0-9_-]{1,200}$/;

/** The caller, the tenant and the proof that one may act on the other with `permissions` (the runs and audit APIs). */
export async function authorize(
  deps: Pick<Deps, 'config' | 'tenants' | 'tokens' | 'rateLimiter'>,
  request: HttpRequest,
  permissions: Permission[],
  options: { rateLimit: boolean } = { rateLimit: true },
): Promise<{ principal: Principal; tenant: Tenant }> {
  // Authenticate before touching the tenant, so anonymous callers learn nothing about tenants.
  const principal = await deps.tokens.verify(bearerTokenFrom(request.headers));
  // No oracle: a tenant the token is not mapped to gets the same 403 whether or not it exists.
  const tenantId = request.params['tenantId'] ?? '';
  const tenant = TENANT_ID_PATTERN.test(tenantId) ? await deps.tenants.get(tenantId) : undefined;
  if (!tenant) throw tenantMismatchError(tenantId);
  requireTenantMatch(principal, tenant);
  if (tenant.status === 'suspended') throw new ForbiddenError(`Tenant "${tenant.id}" is suspended.`, 'tenant_suspended');
  requirePermission(principal, ...permissions);
  // Starting a run counts in admission (the one path all doors share), not twice here.
  if (options.rateLimit) enforceRateLimit(deps.rateLimiter, tenant.id, tenant.rateLimitPerMinute ?? deps.config.frontDoor.defaultRateLimitPerMinute);
  return { principal, tenant };
}

function runNotFound(): NotFoundError {
  return new NotFoundError('No such run for this tenant.', 'run_not_found');
}

/**
 * Reads a run of `tenantId`. A run id of another tenant is "not found" without asking Durable,
 * and the instance's own tenant is checked again, so no path returns another tenant's data.
 */
async function readRun(client: DurableClient, tenantId: string, runId: string): Promise<InstanceSnapshot> {
  if (!RUN_ID.test(runId) || tenantOfRunId(runId) !== tenantId) throw runNotFound();
  let status: unknown;
  try {
    status = await client.getStatus(runId);
  } catch (error) {
    // durable-functions v3 reports an unknown instance only through the message of a plain Error.
    if (/\b404\b/.test(String((error as Error)?.message))) throw runNotFound();
    throw error;
  }
  const snapshot = snapshotOf(status);
  if (!snapshot || snapshot.instanceId !== runId || !isRunOf(snapshot, tenantId)) throw runNotFound();
  return snapshot;
}

/** An `agentRun` instance of `tenantId` (helper orchestrations such as tool calls are not runs). */
function isRunOf(snapshot: InstanceSnapshot, tenantId: string): boolean {
  return (snapshot.name ?? Orchestrators.agentRun.name) === Orchestrators.agentRun.name && (snapshot.input?.tenantId ?? tenantId) === tenantId;
}

function runUrl(request: HttpRequest, tenantId: string, runId: string): string {
  return `${apiBaseUrl(request.url, '/tenants/')}/tenants/${encodeURIComponent(tenantId)}/runs/${encodeURIComponent(runId)}`;
}

/** Opaque list cursor: the index entry of the last run examined. */
function encodeCursor(indexPath: string): string {
  return Buffer.from(JSON.stringify({ a: indexPath })).toString('base64url');
}

function decodeCursor(token: string): string {
  try {
    const value = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { a?: unknown };
    if (typeof value.a === 'string' && isRunIndexPath(value.a)) return value.a;
  } catch {
    // Falls through to the validation error.
  }
  throw new ValidationError('The continuation token is invalid.', ['continuationToken: not a token this API issued']);
}

/** At most this many index entries are examined per list request (a status filter may skip many). */
const LIST_SCAN_LIMIT = 500;

/** The runs API handlers, one per registered function. */
export function createRunsApiHandlers(deps: RunsApiDeps, getClient: DurableClientFactory) {
  const maxBodyBytes = deps.config.frontDoor.maxBodyBytes;

  /** `POST /tenants/{tenantId}/runs` (Runs.Write) → 202 `{id, status, statusUrl}` + Location. */
  const startRun = frontDoor(async (request, door) => {
    const { principal, tenant } = await authorize(deps, request, [RunPermission.write], { rateLimit: false });
    const body = await readJsonBody(request, StartRunBody, maxBodyBytes);
    const admission = await admitRun(deps, { door: 'api', tenant, agentId: body.agent, idempotencyKey: body.idempotencyKey });
    const client = getClient(door.invocation);
    const started = await startAgentRun(client, deps.catalog, {
      admission,
      idempotent: body.idempotencyKey !== undefined,
      input: body.input,
      initiator: initiatorOf(principal),
      correlationId: door.correlationId,
    });
    let status: RunStatus = 'Pending';
    if (!started.created) status = runStatusOf(await readRun(client, tenant.id, started.runId));
    const statusUrl = runUrl(request, tenant.id, started.runId);
    door.invocation.log(`run ${started.runId} ${started.created ? 'started' : 'already exists'} (correlation ${door.correlationId})`);
    return jsonResponse(202, { id: started.runId, status, statusUrl }, { location: statusUrl, 'retry-after': '2' });
  });

  /** `GET /tenants/{tenantId}/runs/{runId}` (Runs.Read, or Runs.Write to poll what one started) → 200 run. */
  const getRun = frontDoor(async (request, door) => {
    const { tenant } = await authorize(deps, request, [RunPermission.read, RunPermission.write]);
    const snapshot = await readRun(getClient(door.invocation), tenant.id, request.params['runId'] ?? '');
    return jsonResponse(200, runViewOf(snapshot, tenant.id));
  });

  /**
   * `GET /tenants/{tenantId}/runs?status=&pageSize=&continuationToken=` (Runs.Read / Runs.Write)
   * → 200 page, newest first. Reads the tenant's run index (`run-index.ts`), never the whole task
   * hub, then each listed run's status. With a status filter a page may come back short (at most
   * {@link LIST_SCAN_LIMIT} runs are examined per request); follow `nextLink` while it is present.
   */
  const listRuns = frontDoor(async (request, door) => {
    const { tenant } = await authorize(deps, request, [RunPermission.read, RunPermission.write]);
    const query = validate(ListQuery, Object.fromEntries(request.query.entries()), 'query');
    let after = query.continuationToken ? decodeCursor(query.continuationToken) : undefined;
    const space = new TenantBlobSpace(deps.requestBlobs, tenant.id);
    const client = getClient(door.invocation);
    const page: InstanceSnapshot[] = [];
    const seen = new Set<string>();
    let scanned = 0;
    let exhausted = false;
    while (page.length < query.pageSize && scanned < LIST_SCAN_LIMIT) {
      const entries = await listIndexedRuns(space, Math.min(query.pageSize - page.length + 1, LIST_SCAN_LIMIT - scanned), after);
      if (entries.length === 0) {
        exhausted = true;
        break;
      }
      const statuses = await Promise.all(entries.map(async (e) => (tenantOfRunId(e.runId) === tenant.id ? client.getStatus(e.runId).catch(() => undefined) : undefined)));
      for (const [i, entry] of entries.entries()) {
        if (page.length >= query.pageSize) break;
        scanned += 1;
        after = entry.path;
        const snapshot = snapshotOf(statuses[i]);
        // Only this tenant's top-level runs that exist (an entry may outlive a purged instance).
        if (!snapshot || seen.has(snapshot.instanceId) || !isRunOf(snapshot, tenant.id) || (snapshot.input?.depth ?? 0) !== 0) continue;
        if (query.status && runStatusOf(snapshot) !== query.status) continue;
        seen.add(snapshot.instanceId);
        page.push(snapshot);
      }
    }
    // More may follow unless the index ran out; one look ahead avoids a last, empty page.
    if (!exhausted && after !== undefined && page.length >= query.pageSize) {
      exhausted = (await listIndexedRuns(space, 1, after)).length === 0;
    }
    const continuationToken = !exhausted && after !== undefined ? encodeCursor(after) : undefined;
    let nextLink: string | undefined;
    if (continuationToken) {
      const next = new URL(request.url);
      next.searchParams.set('continuationToken', continuationToken);
      nextLink = next.toString();
    }
    return jsonResponse(200, { items: page.map(runSummaryOf), ...(continuationToken ? { continuationToken, nextLink } : {}) });
  });

  /** `POST /tenants/{tenantId}/runs/{runId}/approvals` (Runs.Approve) → 202; raises the `approval` event. */
  const approve = frontDoor(async (request, door) => {
    const { principal, tenant } = await authorize(deps, request, [RunPermission.approve]);
    const body = await readJsonBody(request, ApprovalBody, maxBodyBytes);
    const client = getClient(door.invocation);
    const runId = request.params['runId'] ?? '';
    const snapshot = await readRun(client, tenant.id, runId);
    const pending = runStatusOf(snapshot) === 'AwaitingApproval' && (snapshot.progress?.awaitingApproval ?? []).some((a) => a.toolCallId === body.toolCallId);
    if (!pending) {
      throw new ConflictError('approval_not_pending', `Run ${runId} is not waiting for a decision on tool call "${body.toolCallId}".`);
    }
    const decision: ApprovalDecision = {
      toolCallId: body.toolCallId,
      approved: body.approved,
      ...(body.comment === undefined ? {} : { comment: body.comment }),
      decidedBy: actorOf(principal),
      decidedByKind: actorKindOf(principal),
    };
    await client.raiseEvent(runId, RUN_EVENTS.approval, decision);
    return jsonResponse(202, { id: runId, toolCallId: body.toolCallId, approved: body.approved, statusUrl: runUrl(request, tenant.id, runId) });
  });

  /** `POST /tenants/{tenantId}/runs/{runId}/cancel` (Runs.Write) → 202; raises the `cancel` event. */
  const cancel = frontDoor(async (request, door) => {
    const { principal, tenant } = await authorize(deps, request, [RunPermission.write]);
    const client = getClient(door.invocation);
    const runId = request.params['runId'] ?? '';
    const status = runStatusOf(await readRun(client, tenant.id, runId));
    if (isFinished(status)) throw new ConflictError('run_finished', `Run ${runId} has already finished (${status}).`);
    // The orchestrator listens for `cancel` from its first step and stops at the next one.
    await client.raiseEvent(runId, RUN_EVENTS.cancel, { requestedBy: actorOf(principal), requestedByKind: actorKindOf(principal), correlationId: door.correlationId });
    return jsonResponse(202, { id: runId, status, statusUrl: runUrl(request, tenant.id, runId) });
  });

  return { startRun, getRun, listRuns, approve, cancel } satisfies Record<string, (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>>;
}
