import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { z } from 'zod';
import { AuditPermission } from '../auth/principal.js';
import type { Deps } from '../composition-root.js';
import { ValidationError } from '../errors.js';
import { frontDoor, jsonResponse } from './front-door.js';
import { validate } from './request-body.js';
import { authorize } from './runs-api.js';

/**
 * `GET /tenants/{tenantId}/audit?from=&to=&runId=&pageSize=&continuationToken=` (app role or
 * scope `Audit.Read`): the tenant's audit trail, newest first, paged. Authorization is the runs
 * API's (the token's directory must be mapped to the tenant; the same 403 for a tenant that does
 * not exist), and the trail is read from the tenant's own space only, so another tenant's records
 * are never reachable.
 */
export type AuditApiDeps = Pick<Deps, 'config' | 'tenants' | 'tokens' | 'rateLimiter' | 'audit'>;

const isoTime = z.iso.datetime({ offset: true });

const AuditQuery = z.strictObject({
  from: isoTime.optional(),
  to: isoTime.optional(),
  runId: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,200}$/)
    .optional(),
  pageSize: z.coerce.number().int().min(1).max(200).default(50),
  continuationToken: z.string().max(200).optional(),
});

function encodeCursor(beforeSeq: number): string {
  return Buffer.from(JSON.stringify({ b: beforeSeq })).toString('base64url');
}

function decodeCursor(token: string): number {
  try {
    const value = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { b?: unknown };
    if (typeof value.b === 'number' && Number.isInteger(value.b) && value.b >= 1) return value.b;
  } catch {
    // Falls through to the validation error.
  }
  throw new ValidationError('The continuation token is invalid.', ['continuationToken: not a token this API issued']);
}

/** Normalises an ISO time to the form records carry (`toISOString`), so comparisons are by text. */
const utc = (value: string | undefined): string | undefined => (value === undefined ? undefined : new Date(value).toISOString());

export function createAuditApiHandler(deps: AuditApiDeps) {
  return frontDoor(async (request: HttpRequest) => {
    const { tenant } = await authorize(deps, request, [AuditPermission.read]);
    const query = validate(AuditQuery, Object.fromEntries(request.query.entries()), 'query');
    const from = utc(query.from);
    const to = utc(query.to);
    if (from !== undefined && to !== undefined && from > to) throw new ValidationError('from is after to.', ['from: must not be after to']);
    const page = await deps.audit.page(tenant.id, {
      limit: query.pageSize,
      ...(query.continuationToken ? { beforeSeq: decodeCursor(query.continuationToken) } : {}),
      ...(query.runId ? { runId: query.runId } : {}),
      ...(from ? { from } : {}),
      ...(to ? { to } : {}),
    });
    let continuation: { continuationToken: string; nextLink: string } | undefined;
    if (page.beforeSeq !== undefined) {
      const continuationToken = encodeCursor(page.beforeSeq);
      const next = new URL(request.url);
      next.searchParams.set('continuationToken', continuationToken);
      continuation = { continuationToken, nextLink: next.toString() };
    }
    return jsonResponse(200, { items: page.items, ...continuation });
  }) satisfies (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>;
}
