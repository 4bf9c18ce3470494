import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { z } from 'zod';
import { UsagePermission } from '../auth/principal.js';
import type { Deps } from '../composition-root.js';
import { usageRange, usageReport } from '../usage/usage-report.js';
import { frontDoor, jsonResponse } from './front-door.js';
import { validate } from './request-body.js';
import { authorize } from './runs-api.js';

/**
 * `GET /tenants/{tenantId}/usage?from=&to=&granularity=hour|day` (app role or scope
 * `Usage.Read`, not included in `Runs.*`): the tenant's usage ledger in UTC buckets with totals
 * (shared/usage/usage-report.ts). Authorization is the runs API's (the same 403 for another
 * tenant as for one that does not exist); the ledger is read from the tenant's own space only.
 */
export type UsageApiDeps = Pick<Deps, 'config' | 'tenants' | 'tokens' | 'rateLimiter' | 'usage' | 'now'>;

const isoTime = z.iso.datetime({ offset: true });

const UsageQuery = z.strictObject({
  from: isoTime.optional(),
  to: isoTime.optional(),
  granularity: z.enum(['hour', 'day']).default('hour'),
});

export function createUsageApiHandler(deps: UsageApiDeps) {
  return frontDoor(async (request: HttpRequest) => {
    const { tenant } = await authorize(deps, request, [UsagePermission.read]);
    const query = validate(UsageQuery, Object.fromEntries(request.query.entries()), 'query');
    const range = usageRange(query, deps.now());
    return jsonResponse(200, await usageReport(deps.usage, tenant.id, range));
  }) satisfies (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>;
}
