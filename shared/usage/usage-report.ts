import { ValidationError } from '../errors.js';
import { HOUR_MS, addInto, totalTokens, type Increments } from './usage-dimensions.js';
import { byDay, type UsageLedger } from './usage-ledger.js';

/** The longest range one report may cover (either granularity): a quarter, enough for any billing month. */
export const MAX_USAGE_RANGE_DAYS = 93;
const DAY_MS = 24 * HOUR_MS;

export type UsageGranularity = 'hour' | 'day';

export interface UsageRange {
  /** Start of the first bucket (the requested `from`, aligned down to its UTC hour or day). */
  fromMs: number;
  /** Exclusive: buckets that start before it. */
  toMs: number;
  granularity: UsageGranularity;
}

export interface UsageBucket {
  start: string;
  end: string;
  usage: Increments;
  totalTokens: number;
}

export interface UsageReport {
  tenantId: string;
  granularity: UsageGranularity;
  from: string;
  to: string;
  /** Buckets with any usage, oldest first. */
  buckets: UsageBucket[];
  totals: Increments;
  totalTokens: number;
}

/**
 * The range a request or the CLI names: `to` defaults to now, `from` to 24 hours (hourly) or 30
 * days (daily) before `to`. Throws {@link ValidationError} when `from` is after `to` or the range
 * is longer than {@link MAX_USAGE_RANGE_DAYS}.
 */
export function usageRange(input: { from?: string | undefined; to?: string | undefined; granularity: UsageGranularity }, nowMs: number): UsageRange {
  const bucketMs = input.granularity === 'day' ? DAY_MS : HOUR_MS;
  const toMs = input.to !== undefined ? Date.parse(input.to) : nowMs;
  const requestedFromMs = input.from !== undefined ? Date.parse(input.from) : toMs - (input.granularity === 'day' ? 30 * DAY_MS : DAY_MS);
  const problems: string[] = [];
  if (Number.isNaN(toMs)) problems.push('to: must be an ISO date-time');
  if (Number.isNaN(requestedFromMs)) problems.push('from: must be an ISO date-time');
  if (problems.length > 0) throw new ValidationError('The range is invalid.', problems);
  if (requestedFromMs > toMs) throw new ValidationError('from is after to.', ['from: must not be after to']);
  const fromMs = Math.floor(requestedFromMs / bucketMs) * bucketMs;
  if (toMs - fromMs > MAX_USAGE_RANGE_DAYS * DAY_MS) {
    throw new ValidationError(`The range is longer than ${MAX_USAGE_RANGE_DAYS} days.`, [`to: at most ${MAX_USAGE_RANGE_DAYS} days after from`]);
  }
  return { fromMs, toMs, granularity: input.granularity };
}

/** The tenant's usage over `range`, in buckets with totals (what the usage API and `npm run usage` answer). */
export async function usageReport(ledger: Pick<UsageLedger, 'hours'>, tenantId: string, range: UsageRange): Promise<UsageReport> {
  const bucketMs = range.granularity === 'day' ? DAY_MS : HOUR_MS;
  const hours = await ledger.hours(tenantId, range.fromMs, range.toMs);
  const totals: Increments = {};
  const buckets = (range.granularity === 'day' ? byDay(hours) : hours).map((b) => {
    addInto(totals, b.usage);
    return { start: b.start, end: new Date(Date.parse(b.start) + bucketMs).toISOString(), usage: b.usage, totalTokens: totalTokens(b.usage) };
  });
  return {
    tenantId,
    granularity: range.granularity,
    from: new Date(range.fromMs).toISOString(),
    to: new Date(range.toMs).toISOString(),
    buckets,
    totals,
    totalTokens: totalTokens(totals),
  };
}
