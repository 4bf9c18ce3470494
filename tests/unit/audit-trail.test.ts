import { describe, expect, it } from 'vitest';
import { AuditLog, type AuditAct } from '../../shared/audit/audit-log.js';
import { AuditPaths, GENESIS_HASH, seal, type AuditRecord } from '../../shared/audit/audit-record.js';
import { verifyAuditChain } from '../../shared/audit/audit-verify.js';
import { AuditRunEventSink } from '../../shared/audit/audit-sink.js';
import { MemoryBlobStore } from '../../shared/storage/memory-blob-store.js';

const tenant = 'contoso';
const recordPath = (seq: number) => `tenants/${tenant}/${AuditPaths.record(seq)}`;

function act(n: number, extra: Partial<AuditAct> = {}): AuditAct {
  return {
    actId: `run-${Math.ceil(n / 3)}:act-${n}`,
    at: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(),
    tenantId: tenant,
    act: n % 3 === 0 ? 'run.completed' : 'tool.executed',
    runId: `contoso--run${Math.ceil(n / 3)}`,
    actor: { kind: 'agent', id: 'support-triage', onBehalfOf: 'user-1' },
    details: { n },
    ...extra,
  };
}

async function trailOf(count: number) {
  const records = new MemoryBlobStore();
  const hints = new MemoryBlobStore();
  const log = new AuditLog(records, hints);
  for (let n = 1; n <= count; n++) await log.append(act(n));
  return { records, hints, log };
}

const stored = (store: MemoryBlobStore, seq: number): AuditRecord => JSON.parse(store.blobs.get(recordPath(seq))?.content.toString('utf8') ?? 'null') as AuditRecord;
const write = (store: MemoryBlobStore, seq: number, record: unknown) =>
  store.blobs.set(recordPath(seq), { content: Buffer.from(JSON.stringify(record)), lastModified: new Date().toISOString() });

describe('audit trail: a hash chain per tenant', () => {
  it('links each record to the one before it, and verifies', async () => {
    const { records } = await trailOf(6);
    expect(stored(records, 1).prevHash).toBe(GENESIS_HASH);
    for (let seq = 2; seq <= 6; seq++) expect(stored(records, seq).prevHash).toBe(stored(records, seq - 1).hash);
    const result = await verifyAuditChain(records, tenant);
    expect(result).toMatchObject({ records: 6, head: { seq: 6, hash: stored(records, 6).hash }, digests: 2 });
    expect(result.problem).toBeUndefined();
  });

  it('records an act once however often it is reported (an activity retried)', async () => {
    const { records, log } = await trailOf(3);
    const again = await log.append(act(2));
    expect(again.created).toBe(false);
    expect(again.record.seq).toBe(2);
    expect((await log.head(tenant)).seq).toBe(3);
    // A second process (no shared memory) reporting it again: still once.
    const other = new AuditLog(records, new MemoryBlobStore());
    expect((await other.append(act(1))).created).toBe(false);
    expect((await verifyAuditChain(records, tenant)).records).toBe(3);
  });

  it('writes the record of an act whose first attempt claimed it and died before writing', async () => {
    const { records, hints, log } = await trailOf(2);
    // The claim the dead attempt left: it had seen the head at 2.
    records.blobs.set(`tenants/${tenant}/${AuditPaths.claim('run-9:late')}`, { content: Buffer.from(JSON.stringify({ actId: 'run-9:late', afterSeq: 2 })), lastModified: '' });
    const retried = await log.append(act(7, { actId: 'run-9:late' }));
    expect(retried).toMatchObject({ created: true, record: { seq: 3, actId: 'run-9:late' } });
    expect((await new AuditLog(records, hints).append(act(7, { actId: 'run-9:late' }))).created).toBe(false);
    expect((await verifyAuditChain(records, tenant)).problem).toBeUndefined();
  });

  it('keeps one gap-free chain when several instances append at once', async () => {
    const records = new MemoryBlobStore();
    const hints = new MemoryBlobStore();
    const instances = [new AuditLog(records, hints), new AuditLog(records, hints), new AuditLog(records, hints)];
    await Promise.all(Array.from({ length: 30 }, (_, i) => (instances[i % 3] as AuditLog).append(act(i + 1))));
    // And the same acts reported again by other instances: nothing added.
    await Promise.all(Array.from({ length: 30 }, (_, i) => (instances[(i + 1) % 3] as AuditLog).append(act(i + 1))));
    const result = await verifyAuditChain(records, tenant);
    expect(result.problem).toBeUndefined();
    expect(result.records).toBe(30);
    const ids = Array.from({ length: 30 }, (_, i) => stored(records, i + 1).actId);
    expect(new Set(ids).size).toBe(30);
  });

  it('names a record whose content was changed (one byte), even with its own hash recomputed', async () => {
    const { records } = await trailOf(6);
    const raw = records.blobs.get(recordPath(4))?.content.toString('utf8') ?? '';
    write(records, 4, JSON.parse(raw.replace('"n":4', '"n":5')));
    expect((await verifyAuditChain(records, tenant)).problem).toMatchObject({ kind: 'changed', seq: 4 });

    const { records: again } = await trailOf(6);
    const { hash: _old, ...rest } = stored(again, 4);
    write(again, 4, seal({ ...rest, details: { n: 40 } }));
    expect((await verifyAuditChain(again, tenant)).problem).toMatchObject({ kind: 'changed', seq: 4 });
  });

  it('names a removed record: a gap, or the records after it renumbered', async () => {
    const { records } = await trailOf(6);
    records.blobs.delete(recordPath(3));
    expect((await verifyAuditChain(records, tenant)).problem).toMatchObject({ kind: 'removed', seq: 3 });

    const { records: renumbered } = await trailOf(6);
    for (let seq = 3; seq < 6; seq++) write(renumbered, seq, stored(renumbered, seq + 1));
    renumbered.blobs.delete(recordPath(6));
    expect((await verifyAuditChain(renumbered, tenant)).problem).toMatchObject({ kind: 'removed', seq: 3 });
  });

  it('names an inserted record, even one with a valid hash linked to the record before it', async () => {
    const { records } = await trailOf(5);
    const forged = seal({ ...stored(records, 3), seq: 3, actId: 'forged', details: { forged: true }, prevHash: stored(records, 2).hash });
    for (let seq = 5; seq >= 3; seq--) write(records, seq + 1, stored(records, seq));
    write(records, 3, forged);
    expect((await verifyAuditChain(records, tenant)).problem).toMatchObject({ kind: 'inserted', seq: 3 });
  });

  it('detects records cut off the end through the stored digest of the chain head', async () => {
    const { records } = await trailOf(6);
    records.blobs.delete(recordPath(6));
    records.blobs.delete(recordPath(5));
    expect((await verifyAuditChain(records, tenant)).problem).toMatchObject({ kind: 'truncated', seq: 5 });
  });

  it('pages newest first with run and time filters', async () => {
    const { log } = await trailOf(9);
    const first = await log.page(tenant, { limit: 4 });
    expect(first.items.map((r) => r.seq)).toEqual([9, 8, 7, 6]);
    const second = await log.page(tenant, { limit: 4, beforeSeq: first.beforeSeq ?? 0 });
    expect(second.items.map((r) => r.seq)).toEqual([5, 4, 3, 2]);
    const last = await log.page(tenant, { limit: 4, beforeSeq: second.beforeSeq ?? 0 });
    expect(last).toEqual({ items: [expect.objectContaining({ seq: 1 })] });
    expect((await log.page(tenant, { limit: 10, runId: 'contoso--run2' })).items.map((r) => r.seq)).toEqual([6, 5, 4]);
    const window = await log.page(tenant, { limit: 10, from: act(3).at, to: act(5).at });
    expect(window.items.map((r) => r.seq)).toEqual([5, 4, 3]);
    // Another tenant's trail is another space.
    expect((await log.page('fabrikam', { limit: 10 })).items).toEqual([]);
  });
});

describe('audit subscriber on the run-event bus', () => {
  it('turns run events into acts with who and on whose behalf, once each, with no content', async () => {
    const records = new MemoryBlobStore();
    const blobs = new MemoryBlobStore();
    const initiator = { kind: 'app', id: 'client-app', onBehalfOf: 'user-oid-1' };
    await blobs.put(`tenants/${tenant}/runs/contoso--r1/run.json`, JSON.stringify({ agent: { definition: { id: 'support-triage' } }, initiator }));
    const sink = new AuditRunEventSink(new AuditLog(records, blobs), blobs);
    const base = { tenantId: tenant, runId: 'contoso--r1', correlationId: 'c1', at: '2026-01-01T00:00:00.000Z' };
    const events = [
      { ...base, eventId: 'contoso--r1:run.started', type: 'run.started', data: { agent: 'support-triage', version: 2, contentHash: 'h', initiator, depth: 0 } },
      {
        ...base,
        eventId: 'contoso--r1:model.called:1',
        type: 'model.called',
        data: { turn: 1, deployment: 'primary', inputTokens: 10, outputTokens: 5, toolCallsRequested: [{ callId: 't1', tool: 'send_reply', argumentsDigest: 'sha256:ab' }] },
      },
      { ...base, eventId: 'contoso--r1:model.waiting', type: 'model.waiting', data: { turn: 2 } },
      {
        ...base,
        eventId: 'contoso--r1:approval.decided:t1',
        type: 'approval.decided',
        data: { toolCallId: 't1', tool: 'send_reply', approved: true, decidedBy: 'user-oid-2', comment: 'ok' },
      },
      { ...base, eventId: 'contoso--r1:run.completed', type: 'run.completed', data: { status: 'canceled', canceledBy: 'user-oid-3', turns: 1 } },
    ];
    for (const e of [...events, ...events]) await sink.emit(e);
    const trail = (await new AuditLog(records, blobs).page(tenant, { limit: 10 })).items.reverse();
    expect(trail.map((r) => [r.act, r.actor])).toEqual([
      ['run.started', { kind: 'app', id: 'client-app', onBehalfOf: 'user-oid-1' }],
      ['model.called', { kind: 'agent', id: 'support-triage', onBehalfOf: 'user-oid-1' }],
      ['approval.decided', { kind: 'user', id: 'user-oid-2' }],
      ['run.canceled', { kind: 'user', id: 'user-oid-3' }],
    ]);
    expect(trail[0]?.door).toBe('runs-api');
    expect(trail[1]?.details['toolCallsRequested']).toEqual([{ callId: 't1', tool: 'send_reply', argumentsDigest: 'sha256:ab' }]);
    expect(trail[2]?.details).toMatchObject({ approved: true, comment: 'ok' });
  });
});

describe('audit subscriber: who decided or canceled', () => {
  it('records an application (app-only token) as an app, not as a user', async () => {
    const records = new MemoryBlobStore();
    const blobs = new MemoryBlobStore();
    const sink = new AuditRunEventSink(new AuditLog(records, blobs), blobs);
    const base = { tenantId: tenant, runId: 'contoso--r2', correlationId: 'c2', at: '2026-01-01T00:00:00.000Z' };
    await sink.emit({
      ...base,
      eventId: 'contoso--r2:approval.decided:t1',
      type: 'approval.decided',
      data: { toolCallId: 't1', tool: 'send_reply', approved: false, decidedBy: 'client-app', decidedByKind: 'app' },
    });
    await sink.emit({
      ...base,
      eventId: 'contoso--r2:run.completed',
      type: 'run.completed',
      data: { status: 'canceled', canceledBy: 'client-app', canceledByKind: 'app', turns: 1 },
    });
    const trail = (await new AuditLog(records, blobs).page(tenant, { limit: 10 })).items.reverse();
    expect(trail.map((r) => [r.act, r.actor])).toEqual([
      ['approval.decided', { kind: 'app', id: 'client-app' }],
      ['run.canceled', { kind: 'app', id: 'client-app' }],
    ]);
  });
});
