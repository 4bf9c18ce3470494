import { createHash } from 'node:crypto';

/**
 * One record of a tenant's audit trail: one security-relevant act (who did what, on whose
 * behalf, through which door; what the AI system did). Records never hold prompts, model output,
 * tool arguments or results: an argument is recorded only as its SHA-256 digest.
 *
 * Records form a hash chain per tenant: `prevHash` is the previous record's `hash` (64 zeros for
 * the first), and `hash` is the SHA-256 of the record's canonical JSON without `hash`. Changing,
 * removing or inserting a record breaks the chain at that record (see `verifyAuditChain`).
 */
export interface AuditRecord {
  /** 1, 2, 3, ... without gaps, per tenant. */
  seq: number;
  /** The act's stable id (the run event's `eventId`, or the request's for acts at a door): one record per act. */
  actId: string;
  at: string;
  tenantId: string;
  /** `run.started`, `model.called`, `tool.executed`, `approval.requested`, `approval.decided`, `approval.timed_out`, `run.canceled`, `run.completed`, `run.failed`. */
  act: string;
  runId?: string;
  correlationId?: string;
  /** Who acted: a user or app (with `onBehalfOf` for delegated calls), a webhook source, a queue message, a bot user, or the agent itself. */
  actor: AuditActor;
  /** Through which door the run came in, for `run.started`. */
  door?: string;
  /** The act's facts (deployment, tokens, tool name, argument digest, outcome, decision, comment...). */
  details: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

export interface AuditActor {
  kind: string;
  id: string;
  onBehalfOf?: string;
}

export type UnsealedRecord = Omit<AuditRecord, 'hash'>;

export const GENESIS_HASH = '0'.repeat(64);

/** JSON with object keys sorted at every level, so a record hashes the same wherever it is serialized. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

export function recordHash(record: UnsealedRecord): string {
  const { hash: _ignored, ...rest } = record as AuditRecord;
  return createHash('sha256').update(canonicalJson(rest)).digest('hex');
}

export function seal(record: UnsealedRecord): AuditRecord {
  return { ...record, hash: recordHash(record) };
}

/** SHA-256 of a text (tool arguments): what the trail keeps instead of the text. */
export function digestOf(text: string): string {
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

/** Blob names within the tenant's audit space (`tenants/{tenantId}/` is added by TenantBlobSpace). */
export const AuditPaths = {
  recordsPrefix: 'audit/records',
  record: (seq: number) => `audit/records/${String(seq).padStart(12, '0')}.json`,
  seqOfRecordPath: (path: string): number | undefined => {
    const m = /(?:^|\/)audit\/records\/(\d{12})\.json$/.exec(path);
    return m ? Number(m[1]) : undefined;
  },
  claim: (actId: string) => `audit/acts/${createHash('sha256').update(actId).digest('base64url').slice(0, 43)}.json`,
  digestsPrefix: 'audit/digests',
  digest: (seq: number) => `audit/digests/${String(seq).padStart(12, '0')}.json`,
} as const;

/** A stored digest of the chain head: a later truncation of the chain below `seq` is detectable. */
export interface AuditDigest {
  seq: number;
  hash: string;
  at: string;
}
