import type { BlobStore } from '../storage/blob-store.js';
import { TenantBlobSpace } from '../storage/blob-store.js';
import { AuditPaths, GENESIS_HASH, seal, type AuditDigest, type AuditRecord } from './audit-record.js';

/** An act to record; `seq`, `prevHash` and `hash` are the log's. */
export type AuditAct = Omit<AuditRecord, 'seq' | 'prevHash' | 'hash'>;

/** What a claim blob holds: the act, and the chain head the claimer had seen (its record follows it). */
interface Claim {
  actId: string;
  afterSeq: number;
}

interface Head {
  seq: number;
  hash: string;
}

/** Appends racing for the same sequence number are retried this many times before the append fails (the activity retries). */
const MAX_APPEND_ATTEMPTS = 200;

/** The head hint is rewritten at least every this many records (and whenever a run ends). */
const HINT_EVERY = 32;

export interface AuditPage {
  items: AuditRecord[];
  /** Resume below this sequence number; absent when the trail is exhausted. */
  beforeSeq?: number;
}

export interface AuditQuery {
  /** Newest first, starting below this sequence number (exclusive). */
  beforeSeq?: number;
  limit: number;
  runId?: string;
  /** ISO times, inclusive. */
  from?: string;
  to?: string;
  /** At most this many records are examined per page (filters may skip many). */
  scanLimit?: number;
}

/**
 * A tenant's append-only, hash-chained audit trail (record format: audit-record.ts).
 *
 * Storage: every blob the trail writes is written once and never changed (`if-none-match`), so
 * the container can carry a time-based immutability (WORM) policy in Azure
 * (`infra/modules/storage.bicep`): records `audit/records/{seq}.json`, one claim per act
 * `audit/acts/{hash of act id}.json`, and digests of the chain head `audit/digests/{seq}.json`
 * written when a run ends. The only mutable blob is a hint of where the head is, kept apart in
 * the app's data container; the true head is found by probing forward from it.
 *
 * Exactly one record per act, although the activities that report acts are at-least-once: an act
 * is claimed first (if-none-match on its claim). A second attempt finds the claim and looks for
 * the act's record after the head the claim names; it appends only if the first attempt died
 * before its record was written. Two attempts racing for one sequence number: one wins the
 * if-none-match write, the other moves on to the next number. Within one process, appends for a
 * tenant run one at a time, so they do not race each other.
 */
export class AuditLog {
  readonly #records: BlobStore;
  readonly #hints: BlobStore;
  readonly #digestActs: ReadonlySet<string>;
  readonly #queues = new Map<string, Promise<unknown>>();
  /** The head each tenant's trail had after this process's last append (never ahead of the true head). */
  readonly #heads = new Map<string, Head>();

  /**
   * @param records the audit container (write-once blobs only).
   * @param hints where the head hint lives (the app's data container; overwritten freely).
   * @param digestActs acts after which the chain head's digest is stored (run ends by default).
   */
  constructor(records: BlobStore, hints: BlobStore, digestActs: Iterable<string> = ['run.completed', 'run.failed', 'run.canceled']) {
    this.#records = records;
    this.#hints = hints;
    this.#digestActs = new Set(digestActs);
  }

  /** Records `act` once; resolves with its record (`created` false when an earlier attempt had recorded it). */
  append(act: AuditAct): Promise<{ record: AuditRecord; created: boolean }> {
    const previous = this.#queues.get(act.tenantId) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => this.#appendNow(act));
    this.#queues.set(act.tenantId, next);
    void next
      .finally(() => {
        if (this.#queues.get(act.tenantId) === next) this.#queues.delete(act.tenantId);
      })
      .catch(() => undefined);
    return next;
  }

  async #appendNow(act: AuditAct): Promise<{ record: AuditRecord; created: boolean }> {
    const space = new TenantBlobSpace(this.#records, act.tenantId);
    const claimPath = AuditPaths.claim(act.actId);
    // What this process last knew of the head never leads the true head, so the claim's
    // `afterSeq` is safe, and the next number is tried without a read (a taken one is probed past).
    const known = this.#heads.get(act.tenantId) ?? (await this.#hint(act.tenantId));
    const claimed = await space.put(claimPath, JSON.stringify({ actId: act.actId, afterSeq: known.seq } satisfies Claim), { contentType: 'application/json', ifNoneMatch: true });
    if (!claimed.created) {
      const claim = JSON.parse(((await space.get(claimPath)) ?? Buffer.from('{}')).toString('utf8')) as Partial<Claim>;
      const existing = await this.#findAfter(space, act.actId, typeof claim.afterSeq === 'number' ? claim.afterSeq : 0);
      if (existing) return { record: existing, created: false };
      // The first attempt claimed the act and died before its record was written: write it now.
    }
    let head = this.#heads.has(act.tenantId) ? known : await this.#probe(space, known);
    for (let attempt = 0; attempt < MAX_APPEND_ATTEMPTS; attempt++) {
      const record = seal({ ...act, seq: head.seq + 1, prevHash: head.hash });
      const written = await space.put(AuditPaths.record(record.seq), JSON.stringify(record), { contentType: 'application/json', ifNoneMatch: true });
      if (written.created) {
        const newHead = { seq: record.seq, hash: record.hash };
        this.#heads.set(act.tenantId, newHead);
        const ends = this.#digestActs.has(act.act);
        // The hint may lag (readers probe forward from it): refreshed when a run ends and every so often.
        if (ends || record.seq % HINT_EVERY === 0) await this.#setHint(act.tenantId, newHead);
        if (ends) {
          const digest: AuditDigest = { seq: record.seq, hash: record.hash, at: act.at };
          await space.put(AuditPaths.digest(record.seq), JSON.stringify(digest), { contentType: 'application/json', ifNoneMatch: true });
        }
        return { record, created: true };
      }
      // Another writer took this number (another instance): move past it.
      head = await this.#probe(space, head);
    }
    throw new Error(`audit: could not append to tenant ${act.tenantId}'s trail after ${MAX_APPEND_ATTEMPTS} attempts`);
  }

  /** The chain head (sequence number 0 and the genesis hash for an empty trail). */
  async head(tenantId: string): Promise<Head> {
    return this.#probe(new TenantBlobSpace(this.#records, tenantId), await this.#hint(tenantId));
  }

  async read(tenantId: string, seq: number): Promise<AuditRecord | undefined> {
    return readRecord(new TenantBlobSpace(this.#records, tenantId), seq);
  }

  /** Records newest first, filtered; `beforeSeq` in the answer resumes the listing. */
  async page(tenantId: string, query: AuditQuery): Promise<AuditPage> {
    const space = new TenantBlobSpace(this.#records, tenantId);
    const top = query.beforeSeq !== undefined ? query.beforeSeq - 1 : (await this.head(tenantId)).seq;
    const scanLimit = query.scanLimit ?? 500;
    const items: AuditRecord[] = [];
    let seq = top;
    let scanned = 0;
    while (seq >= 1 && items.length < query.limit && scanned < scanLimit) {
      const record = await readRecord(space, seq);
      seq -= 1;
      scanned += 1;
      if (!record) continue;
      if (query.runId !== undefined && record.runId !== query.runId) continue;
      if (query.to !== undefined && record.at > query.to) continue;
      if (query.from !== undefined && record.at < query.from) {
        // Records are in time order: nothing older can match.
        seq = 0;
        break;
      }
      items.push(record);
    }
    return seq >= 1 ? { items, beforeSeq: seq + 1 } : { items };
  }

  async #hint(tenantId: string): Promise<Head> {
    const raw = await new TenantBlobSpace(this.#hints, tenantId).get('audit-head.json');
    if (!raw) return { seq: 0, hash: GENESIS_HASH };
    try {
      const value = JSON.parse(raw.toString('utf8')) as Partial<Head>;
      if (typeof value.seq === 'number' && typeof value.hash === 'string') return { seq: value.seq, hash: value.hash };
    } catch {
      // A damaged hint only costs probing from the start.
    }
    return { seq: 0, hash: GENESIS_HASH };
  }

  async #setHint(tenantId: string, head: Head): Promise<void> {
    await new TenantBlobSpace(this.#hints, tenantId).put('audit-head.json', JSON.stringify(head), { contentType: 'application/json' });
  }

  /** Walks forward from `from` to the last record (the hint may lag, never lead). */
  async #probe(space: TenantBlobSpace, from: Head): Promise<Head> {
    let head = from;
    if (head.seq > 0) {
      // The hint must name a record that exists with that hash; else start over from the beginning.
      const at = await readRecord(space, head.seq);
      if (!at || at.hash !== head.hash) head = { seq: 0, hash: GENESIS_HASH };
    }
    for (;;) {
      const next = await readRecord(space, head.seq + 1);
      if (!next) return head;
      head = { seq: next.seq, hash: next.hash };
    }
  }

  async #findAfter(space: TenantBlobSpace, actId: string, afterSeq: number): Promise<AuditRecord | undefined> {
    for (let seq = afterSeq + 1; ; seq++) {
      const record = await readRecord(space, seq);
      if (!record) return undefined;
      if (record.actId === actId) return record;
    }
  }
}

async function readRecord(space: TenantBlobSpace, seq: number): Promise<AuditRecord | undefined> {
  const raw = await space.get(AuditPaths.record(seq));
  return raw ? (JSON.parse(raw.toString('utf8')) as AuditRecord) : undefined;
}
