import { createHash } from 'node:crypto';
import type { RunEvent, RunEventSink } from '../agent-runtime/run-events.js';
import { TenantBlobSpace, type BlobStore } from '../storage/blob-store.js';
import { HOUR_MS, addInto, hourKey, hourKeyStartMs, incrementsOf, totalTokens, type Increments } from './usage-dimensions.js';

/** What a claim holds: the hour the event counts in, fixed by the first attempt, and its increments. */
interface Claim {
  eventId: string;
  hour: string;
  increments: Increments;
}

/** One event's entry under its hour. */
interface Entry {
  eventId: string;
  at: string;
  increments: Increments;
}

/** A closed hour's sum, written once; `entries` names the entries it covers (late ones are added on read). */
interface Rollup {
  hour: string;
  entries: string[];
  usage: Increments;
}

export const UsagePaths = {
  claim: (id: string) => `usage/claims/${id}.json`,
  hourPrefix: 'usage/hours/',
  entry: (hour: string, id: string) => `usage/hours/${hour}/${id}.json`,
  rollup: (hour: string) => `usage/rollups/${hour}.json`,
} as const;

/** One UTC hour's usage. */
export interface HourUsage {
  /** ISO start of the hour. */
  start: string;
  usage: Increments;
}

export interface UsageLedgerOptions {
  /** Milliseconds since the epoch (rollups are written only for hours that closed at least `rollupDelayMs` ago). */
  now: () => number;
  /** How long after an hour ends its rollup may be written (default 1 hour). Reads are exact either way. */
  rollupDelayMs?: number;
  /** False for readers without write access (the CLI with a reader role): closed hours are summed from their entries every time. */
  writeRollups?: boolean;
}

const LIST_PAGE = 5_000;
const READ_CONCURRENCY = 16;

function entryIdOf(eventId: string): string {
  return createHash('sha256').update(eventId).digest('base64url').slice(0, 32);
}

function parse<T>(raw: Buffer | undefined): T | undefined {
  return raw ? (JSON.parse(raw.toString('utf8')) as T) : undefined;
}

async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i] as T);
      }
    }),
  );
  return out;
}

/**
 * A tenant's usage ledger in its blob space: hourly buckets per dimension (usage-dimensions.ts).
 *
 * Exactly once although events repeat (activities are at-least-once, every attempt emits with the
 * same `eventId`): an event first claims `usage/claims/{hash of eventId}.json` (if-none-match),
 * which fixes the hour it counts in and its increments; then its entry
 * `usage/hours/{hour}/{hash}.json` is written if-none-match at the claimed hour. A repeat finds
 * the claim and (re)writes the same entry, which is a no-op when it exists and completes the
 * first attempt's work when that attempt died between the two writes. The hour comes from the
 * claim, not from the repeat's own time, so a retry across an hour boundary is not counted twice.
 * Every blob is written once and never changed, so any number of instances may record at once.
 *
 * Reading an hour sums its entries. Once an hour has been closed for `rollupDelayMs`, the first
 * reader writes its rollup (if-none-match) naming the entries it summed; later reads take the
 * rollup and add only entries it does not name, so a late entry is never lost nor counted twice.
 */
export class UsageLedger implements RunEventSink {
  readonly #blobs: BlobStore;
  readonly #now: () => number;
  readonly #rollupDelayMs: number;
  readonly #writeRollups: boolean;

  constructor(blobs: BlobStore, options: UsageLedgerOptions) {
    this.#blobs = blobs;
    this.#now = options.now;
    this.#rollupDelayMs = options.rollupDelayMs ?? HOUR_MS;
    this.#writeRollups = options.writeRollups ?? true;
  }

  /** The bus subscriber: records the event's usage once (events without usage are ignored). */
  async emit(event: RunEvent): Promise<void> {
    await this.record(event);
  }

  /** Records `event`'s increments once; `created` false when an earlier attempt had recorded it. */
  async record(event: Pick<RunEvent, 'eventId' | 'tenantId' | 'type' | 'data' | 'at'>): Promise<{ created: boolean } | undefined> {
    const increments = incrementsOf(event);
    if (!increments) return undefined;
    const space = new TenantBlobSpace(this.#blobs, event.tenantId);
    const id = entryIdOf(event.eventId);
    const atMs = Date.parse(event.at);
    let claim: Claim = { eventId: event.eventId, hour: hourKey(Number.isFinite(atMs) ? atMs : this.#now()), increments };
    const claimed = await space.put(UsagePaths.claim(id), JSON.stringify(claim), { contentType: 'application/json', ifNoneMatch: true });
    if (!claimed.created) claim = parse<Claim>(await space.get(UsagePaths.claim(id))) ?? claim;
    const entry: Entry = { eventId: claim.eventId, at: event.at, increments: claim.increments };
    const written = await space.put(UsagePaths.entry(claim.hour, id), JSON.stringify(entry), { contentType: 'application/json', ifNoneMatch: true });
    return { created: claimed.created || written.created };
  }

  /** Usage per UTC hour with any usage, for hours starting in `[fromMs, toMs)`, oldest first. */
  async hours(tenantId: string, fromMs: number, toMs: number): Promise<HourUsage[]> {
    const space = new TenantBlobSpace(this.#blobs, tenantId);
    const fromHour = hourKey(fromMs);
    const byHour = await this.#entryNames(space, fromHour, toMs);
    const out: HourUsage[] = [];
    const results = await mapLimited([...byHour.entries()], 4, async ([hour, names]) => ({ hour, usage: await this.#hour(space, hour, names) }));
    for (const { hour, usage } of results) {
      if (Object.keys(usage).length > 0) out.push({ start: new Date(hourKeyStartMs(hour)).toISOString(), usage });
    }
    return out;
  }

  /**
   * Total model tokens (input + output, every deployment) of the tenant's events that count in
   * hours starting in `[periodStartMs, periodEndMs)`. For the budget check; periods start on hours.
   */
  async periodUsage(tenantId: string, periodStartMs: number, periodEndMs: number): Promise<number> {
    const hours = await this.hours(tenantId, periodStartMs, periodEndMs);
    return hours.reduce((sum, h) => sum + totalTokens(h.usage), 0);
  }

  /** Entry names per hour key (sorted), for hours from `fromHour` up to `toMs` (exclusive). */
  async #entryNames(space: TenantBlobSpace, fromHour: string, toMs: number): Promise<Map<string, string[]>> {
    const byHour = new Map<string, string[]>();
    // Names sort by hour: start just before the first hour's folder, stop at the first hour past the range.
    let startAfter = `${UsagePaths.hourPrefix}${fromHour}`;
    for (;;) {
      // (Listed without the trailing slash: tenant paths refuse an empty segment.)
      const page = await space.list(UsagePaths.hourPrefix.slice(0, -1), LIST_PAGE, { startAfter });
      for (const item of page) {
        if (!item.path.startsWith(UsagePaths.hourPrefix)) continue;
        const [hour, name] = item.path.slice(UsagePaths.hourPrefix.length).split('/');
        if (hour === undefined || name === undefined) continue;
        if (hourKeyStartMs(hour) >= toMs) return byHour;
        const names = byHour.get(hour) ?? [];
        names.push(name.replace(/\.json$/, ''));
        byHour.set(hour, names);
      }
      if (page.length < LIST_PAGE) return byHour;
      startAfter = (page[page.length - 1] as { path: string }).path;
    }
  }

  async #hour(space: TenantBlobSpace, hour: string, names: readonly string[]): Promise<Increments> {
    const rollup = parse<Rollup>(await space.get(UsagePaths.rollup(hour)));
    const covered = new Set(rollup?.entries ?? []);
    const missing = names.filter((n) => !covered.has(n));
    const entries = await mapLimited(missing, READ_CONCURRENCY, async (n) => parse<Entry>(await space.get(UsagePaths.entry(hour, n))));
    const usage: Increments = { ...(rollup?.usage ?? {}) };
    for (const entry of entries) if (entry) addInto(usage, entry.increments);
    const closed = hourKeyStartMs(hour) + HOUR_MS + this.#rollupDelayMs <= this.#now();
    if (this.#writeRollups && !rollup && closed && names.length > 0) {
      const summed = names.filter((_, i) => entries[i] !== undefined);
      const value: Rollup = { hour, entries: summed, usage };
      // An optimisation only: a read never fails because its rollup could not be stored (the next read tries again).
      await space.put(UsagePaths.rollup(hour), JSON.stringify(value), { contentType: 'application/json', ifNoneMatch: true }).catch(() => undefined);
    }
    return usage;
  }
}

/** Hourly usage summed into UTC days: `{start, usage}` per day with any usage. */
export function byDay(hours: readonly HourUsage[]): HourUsage[] {
  const days = new Map<string, Increments>();
  for (const h of hours) {
    const day = `${h.start.slice(0, 10)}T00:00:00.000Z`;
    days.set(day, addInto(days.get(day) ?? {}, h.usage));
  }
  return [...days.entries()].map(([start, usage]) => ({ start, usage }));
}
