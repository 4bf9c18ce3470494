import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { z } from 'zod';
import { UsagePermission } from '../auth/principal.js';
import type { Deps } from '../composition-root.js';
import { ValidationError } from '../errors.js';
import { HOUR_MS, addInto, totalTokens, type Increments } from '../usage/usage-dimensions.js';
import { byDay } from '../usage/usage-ledger.js';
import { frontDoor, jsonResponse } from './front-door.js';
import { validate } from './request-body.js';
import { authorize } from './runs-api.js';

/**
 * `GET /tenants/{tenantId}/usage?from=&to=&granularity=hour|day` (app role or scope
 * `Usage.Read`): the tenant's usage ledger in UTC buckets with totals. Authorization is the runs
 * API's (same 403 for another tenant as for one that does not exist); the ledger is read from the
 * tenant's own space only.
 */
export type UsageApiDeps = Pick<Deps, 'config' | 'tenants' | 'tokens' | 'rateLimiter' | 'usage' | 'now'>;

/** The longest range one request may cover (either granularity): a quarter, enough for any billing month. */
export const MAX_USAGE_RANGE_DAYS = 93;
const DAY_MS = 24 * HOUR_MS;

const isoTime = z.iso.datetime({ offset: true });

const UsageQuery = z.strictObject({
  from: isoTime.optional(),
  to: isoTime.optional(),
  granularity: z.enum(['hour', 'day']).default('hour'),
});

export interface UsageBucket {
  start: string;
  end: string;
  usage: Increments;
  totalTokens: number;
}

/** Buckets with any usage, oldest first, whose start is in `[from, to)`; `from` is aligned down to its bucket. */
export function createUsageApiHandler(deps: UsageApiDeps) {
  return frontDoor(async (request: HttpRequest) => {
    const { tenant } = await authorize(deps, request, [UsagePermission.read]);
    const query = validate(UsageQuery, Object.fromEntries(request.query.entries()), 'query');
    const bucketMs = query.granularity === 'day' ? DAY_MS : HOUR_MS;
    const toMs = query.to !== undefined ? Date.parse(query.to) : deps.now();
    const requestedFromMs = query.from !== undefined ? Date.parse(query.from) : toMs - (query.granularity === 'day' ? 30 * DAY_MS : DAY_MS);
    if (requestedFromMs > toMs) throw new ValidationError('from is after to.', ['from: must not be after to']);
    const fromMs = Math.floor(requestedFromMs / bucketMs) * bucketMs;
    if (toMs - fromMs > MAX_USAGE_RANGE_DAYS * DAY_MS) {
      throw new ValidationError(`The range is longer than ${MAX_USAGE_RANGE_DAYS} days.`, [`to: at most ${MAX_USAGE_RANGE_DAYS} days after from`]);
    }
    const hours = await deps.usage.hours(tenant.id, fromMs, toMs);
    const buckets = query.granularity === 'day' ? byDay(hours) : hours;
    const totals: Increments = {};
    const items: UsageBucket[] = buckets.map((b) => {
      addInto(totals, b.usage);
      return { start: b.start, end: new Date(Date.parse(b.start) + bucketMs).toISOString(), usage: b.usage, totalTokens: totalTokens(b.usage) };
    });
    return jsonResponse(200, {
      tenantId: tenant.id,
      granularity: query.granularity,
      from: new Date(fromMs).toISOString(),
      to: new Date(toMs).toISOString(),
      buckets: items,
      totals,
      totalTokens: totalTokens(totals),
    });
  }) satisfies (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>;
}
