import type { BlobStore } from '../storage/blob-store.js';
import { TenantBlobSpace } from '../storage/blob-store.js';
import { AuditPaths, GENESIS_HASH, recordHash, type AuditDigest, type AuditRecord } from './audit-record.js';

export type AuditProblemKind = 'changed' | 'removed' | 'inserted' | 'truncated' | 'unreadable';

export interface AuditProblem {
  kind: AuditProblemKind;
  /** The record the problem is about (for `removed`/`truncated`: the first one missing). */
  seq: number;
  message: string;
}

export interface AuditVerification {
  tenantId: string;
  records: number;
  head: { seq: number; hash: string };
  digests: number;
  /** The first problem found; the chain after it is not trusted. */
  problem?: AuditProblem;
}

const PAGE = 1000;

/**
 * Recomputes a tenant's audit chain and names the first record that was changed, removed or
 * inserted:
 * - **changed**: a record whose `hash` no longer matches its content, or (when the `hash` was
 *   recomputed too) whose hash no longer matches the next record's `prevHash`;
 * - **removed**: a gap in the sequence numbers, or a record whose `prevHash` is not the hash of
 *   the record before it while its number says it follows it directly (records renumbered
 *   after a removal);
 * - **inserted**: a record whose successor links to the record before it;
 * - **truncated**: a stored digest names a chain head past the last record (records were cut off
 *   the end), or a digest's hash differs from the record it names.
 */
export async function verifyAuditChain(store: BlobStore, tenantId: string): Promise<AuditVerification> {
  const space = new TenantBlobSpace(store, tenantId);
  let prev: AuditRecord | undefined;
  let beforePrev: AuditRecord | undefined;
  let count = 0;
  let startAfter: string | undefined;
  const result = (problem?: AuditProblem, digests = 0): AuditVerification => ({
    tenantId,
    records: count,
    head: { seq: prev?.seq ?? 0, hash: prev?.hash ?? GENESIS_HASH },
    digests,
    ...(problem ? { problem } : {}),
  });

  for (;;) {
    const listing = await space.list(AuditPaths.recordsPrefix, PAGE, startAfter === undefined ? {} : { startAfter });
    if (listing.length === 0) break;
    for (const item of listing) {
      startAfter = item.path;
      const fileSeq = AuditPaths.seqOfRecordPath(item.path);
      if (fileSeq === undefined) return result({ kind: 'inserted', seq: (prev?.seq ?? 0) + 1, message: `a blob that is not a record sits among the records: ${item.path}` });
      const expected = (prev?.seq ?? 0) + 1;
      if (fileSeq > expected) {
        return result({
          kind: 'removed',
          seq: expected,
          message: `record ${expected}${fileSeq - 1 > expected ? ` to ${fileSeq - 1}` : ''} is missing (the next stored is ${fileSeq})`,
        });
      }
      let record: AuditRecord;
      try {
        record = JSON.parse((await space.get(item.path))?.toString('utf8') ?? '') as AuditRecord;
      } catch {
        return result({ kind: 'changed', seq: fileSeq, message: `record ${fileSeq} is not valid JSON` });
      }
      if (record.hash !== recordHash(record)) {
        return result({ kind: 'changed', seq: fileSeq, message: `record ${fileSeq} was changed: its content no longer matches its hash` });
      }
      const prevHash = prev?.hash ?? GENESIS_HASH;
      if (record.prevHash !== prevHash) {
        if (prev && record.prevHash === (beforePrev?.hash ?? GENESIS_HASH)) {
          return result({ kind: 'inserted', seq: prev.seq, message: `record ${prev.seq} was inserted: record ${fileSeq} links to the record before it` });
        }
        if (prev && record.seq === fileSeq) {
          return result({ kind: 'changed', seq: prev.seq, message: `record ${prev.seq} was changed: its hash no longer matches the link in record ${fileSeq}` });
        }
        return result({
          kind: 'removed',
          seq: fileSeq,
          message: `a record before ${fileSeq} was removed: record ${fileSeq} (stored as seq ${record.seq}) does not link to record ${fileSeq - 1}`,
        });
      }
      if (record.seq !== fileSeq || record.tenantId !== tenantId) {
        return result({ kind: 'changed', seq: fileSeq, message: `record ${fileSeq} says it is seq ${record.seq} of tenant ${record.tenantId}` });
      }
      beforePrev = prev;
      prev = record;
      count += 1;
    }
  }

  // Digests: the newest must name a record that still exists, with that hash.
  const digests: AuditDigest[] = [];
  let digestAfter: string | undefined;
  for (;;) {
    const listing = await space.list(AuditPaths.digestsPrefix, PAGE, digestAfter === undefined ? {} : { startAfter: digestAfter });
    if (listing.length === 0) break;
    for (const item of listing) {
      digestAfter = item.path;
      const raw = await space.get(item.path);
      try {
        digests.push(JSON.parse(raw?.toString('utf8') ?? '') as AuditDigest);
      } catch {
        return result({ kind: 'unreadable', seq: 0, message: `digest ${item.path} is not valid JSON` }, digests.length);
      }
    }
  }
  const last = prev?.seq ?? 0;
  for (const digest of digests.sort((a, b) => b.seq - a.seq)) {
    if (digest.seq > last) {
      return result(
        { kind: 'truncated', seq: last + 1, message: `records after ${last} were removed: a digest of ${digest.at} covers the chain up to record ${digest.seq}` },
        digests.length,
      );
    }
    const record = JSON.parse((await space.get(AuditPaths.record(digest.seq)))?.toString('utf8') ?? 'null') as AuditRecord | null;
    if (!record || record.hash !== digest.hash) {
      return result({ kind: 'changed', seq: digest.seq, message: `record ${digest.seq} differs from the digest stored for it on ${digest.at}` }, digests.length);
    }
    // The newest digest that holds vouches for everything below it; older ones add nothing.
    break;
  }
  return result(undefined, digests.length);
}
