import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditPaths, seal, type AuditRecord } from '../../shared/audit/audit-record.js';
import { AzureBlobStore } from '../../shared/storage/azure-blob-store.js';
import { startDevTokenIssuer, type DevTokenIssuer } from '../../devhost/local-services/dev-token-issuer.js';
import { repoRoot, startAgentStack, type AgentStack } from '../helpers/agent-stack.js';
import { eventually } from '../helpers/eventually.js';

/**
 * The audit trail end to end: a run through the runs API (token, approval with a comment) on the
 * compiled app, read back through `GET /api/tenants/{tenantId}/audit`, and checked with
 * `npm run audit:verify` (its compiled script), before and after a stored record is tampered
 * with. Build first (`npm run build`).
 */

const CONTOSO_TID = '11111111-1111-4111-8111-111111111111';
const FABRIKAM_TID = '22222222-2222-4222-8222-222222222222';
const PROMPT = 'My export is empty since Tuesday';
const REPLY_BODY = 'Fixed in 2.1, sorry about that';

let issuer: DevTokenIssuer;
let stack: AgentStack;

beforeAll(async () => {
  issuer = await startDevTokenIssuer({ port: 0 });
  stack = await startAgentStack({ AUTH_AUTHORITY: issuer.url });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  await issuer?.stop();
});

const token = (entraTenantId: string, options: { roles?: string[]; scopes?: string[]; objectId?: string }) =>
  issuer.issue({ entraTenantId, audience: 'api://durable-agent-pipeline-local', ...options });

async function call(method: string, path: string, bearer: string, body?: unknown) {
  const res = await fetch(`${stack.devhost.url}/api${path}`, {
    method,
    headers: { authorization: `Bearer ${bearer}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
}

function verify(tenant: string): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--disable-warning=ExperimentalWarning', `${repoRoot}/dist-dev/tools/audit-verify.js`, '--tenant', tenant],
      { env: { ...process.env, STORAGE_CONNECTION_STRING: stack.azurite.connectionString } },
      (error, stdout, stderr) => resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout: stdout + stderr }),
    );
  });
}

describe('audit trail', () => {
  let runId = '';
  let trail: AuditRecord[] = [];

  it('records who did what on whose behalf for a run, once per act, with no content', async () => {
    stack.model.script([
      { type: 'tool_calls', toolCalls: [{ id: 'call_reply', name: 'send_reply', arguments: { subject: 'Re: export', body: REPLY_BODY } }] },
      { type: 'text', content: 'Reply sent. classification=bug; urgency=normal' },
    ]);
    // A user signed in to a client app (delegated), who starts the run and approves it.
    const user = await token(CONTOSO_TID, { scopes: ['Runs.Write', 'Runs.Approve'], objectId: 'aaaaaaaa-0000-4000-8000-000000000001' });
    const started = await call('POST', '/tenants/contoso/runs', user, { agent: 'support-triage', input: PROMPT });
    expect(started.status).toBe(202);
    runId = String(started.body['id']);
    const statusUrl = `/tenants/contoso/runs/${runId}`;
    await eventually('the approval wait', async () => (await call('GET', statusUrl, user)).body['status'] === 'AwaitingApproval');
    expect((await call('POST', `${statusUrl}/approvals`, user, { toolCallId: 'call_reply', approved: true, comment: 'looks right' })).status).toBe(202);
    await eventually('the run to complete', async () => (await call('GET', statusUrl, user)).body['status'] === 'Completed');

    const auditor = await token(CONTOSO_TID, { roles: ['Audit.Read'] });
    const page = await call('GET', `/tenants/contoso/audit?runId=${runId}`, auditor);
    expect(page.status).toBe(200);
    trail = (page.body['items'] as AuditRecord[]).slice().reverse();
    expect(trail.map((r) => r.act)).toEqual(['run.started', 'model.called', 'approval.requested', 'approval.decided', 'tool.executed', 'model.called', 'run.completed']);
    const [startedRec, firstCall, , decided, executed] = trail;
    expect(startedRec).toMatchObject({ door: 'runs-api', actor: { kind: 'app', onBehalfOf: 'aaaaaaaa-0000-4000-8000-000000000001' }, details: { agent: 'support-triage' } });
    expect(firstCall?.actor).toMatchObject({ kind: 'agent', id: 'support-triage', onBehalfOf: 'aaaaaaaa-0000-4000-8000-000000000001' });
    expect(decided).toMatchObject({ actor: { kind: 'user', id: 'aaaaaaaa-0000-4000-8000-000000000001' }, details: { approved: true, comment: 'looks right', tool: 'send_reply' } });
    // The arguments are recorded as a digest: the one the model asked with is the one that ran.
    const requested = (firstCall?.details['toolCallsRequested'] as { argumentsDigest: string }[])[0]?.argumentsDigest;
    expect(requested).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(executed?.details).toMatchObject({ tool: 'send_reply', outcome: 'ok', argumentsDigest: requested });
    expect(requested).toBe(
      `sha256:${createHash('sha256')
        .update(JSON.stringify({ subject: 'Re: export', body: REPLY_BODY }))
        .digest('hex')}`,
    );
    const text = JSON.stringify(trail);
    expect(text).not.toContain(PROMPT);
    expect(text).not.toContain(REPLY_BODY);
    expect(text).not.toContain('Reply sent.');
  }, 60_000);

  it('is readable only with Audit.Read, and only for the token’s own tenant', async () => {
    const writer = await token(CONTOSO_TID, { roles: ['Runs.Read', 'Runs.Write'] });
    expect(await call('GET', '/tenants/contoso/audit', writer)).toMatchObject({ status: 403, body: { code: 'permission_missing' } });
    const fabrikamAuditor = await token(FABRIKAM_TID, { roles: ['Audit.Read'] });
    const crossTenant = await call('GET', '/tenants/contoso/audit', fabrikamAuditor);
    const unknownTenant = await call('GET', '/tenants/nosuchtenant/audit', fabrikamAuditor);
    expect(crossTenant.status).toBe(403);
    // No oracle: a tenant that does not exist gets the same answer as one the token is not mapped to.
    expect(unknownTenant.status).toBe(403);
    expect(unknownTenant.body['code']).toBe('tenant_mismatch');
    expect(JSON.stringify(unknownTenant.body).replaceAll('nosuchtenant', 'contoso')).toBe(JSON.stringify(crossTenant.body));
    const own = await call('GET', '/tenants/fabrikam/audit', fabrikamAuditor);
    expect(own.status).toBe(200);
    expect((own.body['items'] as AuditRecord[]).every((r) => r.tenantId === 'fabrikam')).toBe(true);
    const contosoAuditor = await token(CONTOSO_TID, { roles: ['Audit.Read'] });
    expect((await call('GET', '/tenants/contoso/audit?pageSize=2&from=2099-01-01T00:00:00Z&to=2000-01-01T00:00:00Z', contosoAuditor)).status).toBe(400);
    const first = await call('GET', '/tenants/contoso/audit?pageSize=2', contosoAuditor);
    expect((first.body['items'] as unknown[]).length).toBe(2);
    const next = await fetch(String(first.body['nextLink']), { headers: { authorization: `Bearer ${contosoAuditor}` } });
    const nextItems = ((await next.json()) as { items: AuditRecord[] }).items;
    expect(nextItems[0]?.seq).toBe(((first.body['items'] as AuditRecord[])[1]?.seq ?? 0) - 1);
  });

  it('npm run audit:verify passes on the stored chain and names a record changed by one byte', async () => {
    const ok = await verify('contoso');
    expect(ok.stdout).toMatch(/chain intact/);
    expect(ok.code).toBe(0);

    const target = trail[3] as AuditRecord;
    const store = new AzureBlobStore({ kind: 'connection-string', connectionString: stack.azurite.connectionString, container: 'audit' });
    const path = `tenants/contoso/${AuditPaths.record(target.seq)}`;
    const original = (await store.get(path))?.toString('utf8') ?? '';
    await store.put(path, original.replace('looks right', 'looks rigit'));
    const broken = await verify('contoso');
    expect(broken.code).toBe(1);
    expect(broken.stdout).toContain(`BROKEN at record ${target.seq} (changed)`);
    await store.put(path, original);
    expect((await verify('contoso')).code).toBe(0);
  }, 30_000);

  it('npm run audit:verify names a removed record and an inserted one', async () => {
    const store = new AzureBlobStore({ kind: 'connection-string', connectionString: stack.azurite.connectionString, container: 'audit' });
    const pathOf = (seq: number) => `tenants/contoso/${AuditPaths.record(seq)}`;
    const head = Math.max(...trail.map((r) => r.seq));
    const target = (trail[2] as AuditRecord).seq;
    const saved = new Map<number, string>();
    for (let seq = target; seq <= head; seq++) saved.set(seq, (await store.get(pathOf(seq)))?.toString('utf8') ?? '');
    const restore = async () => {
      for (const [seq, text] of saved) await store.put(pathOf(seq), text);
      await store.delete(pathOf(head + 1));
    };

    await store.delete(pathOf(target));
    const removed = await verify('contoso');
    expect(removed.code).toBe(1);
    expect(removed.stdout).toContain(`BROKEN at record ${target} (removed)`);
    await restore();

    // A forged record slipped in at `target`, linked to the record before it, the later ones moved up.
    const before = JSON.parse((await store.get(pathOf(target - 1)))?.toString('utf8') ?? '{}') as AuditRecord;
    const forged = seal({ ...(JSON.parse(saved.get(target) ?? '{}') as AuditRecord), actId: 'forged', details: { forged: true }, prevHash: before.hash });
    for (let seq = head; seq >= target; seq--) await store.put(pathOf(seq + 1), saved.get(seq) ?? '');
    await store.put(pathOf(target), JSON.stringify(forged));
    const inserted = await verify('contoso');
    expect(inserted.code).toBe(1);
    expect(inserted.stdout).toContain(`BROKEN at record ${target} (inserted)`);
    await restore();
    expect((await verify('contoso')).code).toBe(0);
  }, 30_000);
});
