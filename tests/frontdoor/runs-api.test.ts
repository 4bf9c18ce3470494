import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { azuriteConnectionString } from '../../devhost/local-services/azurite.js';
import { AzureBlobStore, REQUEST_PATH_RETRY } from '../../shared/storage/azure-blob-store.js';
import { indexRun } from '../../shared/agent-runtime/run-index.js';
import { runIdFor } from '../../shared/runs/admission.js';
import { TenantBlobSpace } from '../../shared/storage/blob-store.js';
import type { AgentRunInput } from '../../shared/agent-runtime/run-types.js';
import { createRunsApiHandlers } from '../../shared/http/runs-api.js';
import { generateDevSigningKey, issueDevToken, startDevTokenIssuer, type DevTokenIssuer } from '../../devhost/local-services/dev-token-issuer.js';
import { AUDIENCE, CONTOSO_TID, FABRIKAM_TID, NORTHWIND_TID, answer, frontDoorFixture, invocation, request, type FrontDoorFixture } from './front-door-kit.js';

let issuer: DevTokenIssuer;
let fx: FrontDoorFixture;
let runs: ReturnType<typeof createRunsApiHandlers>;

beforeAll(async () => {
  issuer = await startDevTokenIssuer({ port: 0 });
});
afterAll(async () => {
  await issuer.stop();
});
beforeEach(() => {
  fx = frontDoorFixture(issuer, { AUTH_JWKS_COOLDOWN_MS: '0' });
  runs = createRunsApiHandlers(fx.deps, () => fx.client.asClient());
});

type TokenOptions = Parameters<DevTokenIssuer['issue']>[0];

function token(options: Partial<TokenOptions> = {}): Promise<string> {
  return issuer.issue({ entraTenantId: CONTOSO_TID, audience: AUDIENCE, roles: ['Runs.Read', 'Runs.Write', 'Runs.Approve'], nowMs: fx.clock.now(), ...options });
}

async function start(tenantId: string, body: unknown, bearer: string, headers: Record<string, string> = {}) {
  return answer(await runs.startRun(request({ method: 'POST', path: `/tenants/${tenantId}/runs`, params: { tenantId }, token: bearer, json: body, headers }), invocation(fx.logs)));
}

async function getRun(tenantId: string, runId: string, bearer: string) {
  return answer(await runs.getRun(request({ path: `/tenants/${tenantId}/runs/${runId}`, params: { tenantId, runId }, token: bearer }), invocation(fx.logs)));
}

/** A run input as startAgentRun stores it (only the fields the API reads matter). */
function storedInput(tenantId: string, runId: string, extra: Partial<AgentRunInput> = {}): unknown {
  return { tenantId, runId, agent: { definition: { id: 'support-triage' } }, depth: 0, correlationId: 'corr-1', ...extra };
}

describe('runs API: authentication (401)', () => {
  it('rejects a request without a token, with a bare Bearer challenge', async () => {
    const res = answer(
      await runs.startRun(
        request({ method: 'POST', path: '/tenants/contoso/runs', params: { tenantId: 'contoso' }, json: { agent: 'support-triage', input: 'hi' } }),
        invocation(),
      ),
    );
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="runs-api"');
    expect(res.body).toMatchObject({ status: 401, code: 'token_missing', instance: '/api/tenants/contoso/runs' });
    expect(fx.client.starts).toHaveLength(0);
  });

  it('rejects a non-bearer Authorization header', async () => {
    const res = answer(
      await runs.getRun(request({ path: '/tenants/contoso/runs', params: { tenantId: 'contoso' }, headers: { authorization: 'Basic dXNlcjpwdw==' } }), invocation()),
    );
    expect(res.status).toBe(401);
    expect(res.body['code']).toBe('token_invalid');
  });

  it.each([
    ['expired', { expiresInSeconds: -600 }, 'token_expired'],
    ['not yet valid', { claims: { nbf: Math.floor(Date.now() / 1000) + 3600 } }, 'token_not_yet_valid'],
    ['wrong audience', { audience: 'api://someone-else' }, 'token_audience_invalid'],
    ['wrong issuer', { claims: { iss: `https://login.example.net/${CONTOSO_TID}/v2.0` } }, 'token_issuer_invalid'],
    ['issuer of another directory than its tid', { claims: { iss: `ISSUER/${FABRIKAM_TID}/v2.0` } }, 'token_issuer_invalid'],
  ] as const)('rejects a token that is %s', async (_label, options, code) => {
    const opts = { ...options } as Partial<TokenOptions>;
    if (opts.claims?.['iss'] && String(opts.claims['iss']).startsWith('ISSUER')) opts.claims = { iss: String(opts.claims['iss']).replace('ISSUER', issuer.url) };
    const res = answer(
      await runs.getRun(
        request({ path: '/tenants/contoso/runs/x', params: { tenantId: 'contoso', runId: 'contoso--aaaaaaaaaaaaaaaaaaaa' }, token: await token(opts) }),
        invocation(),
      ),
    );
    expect(res.status).toBe(401);
    expect(res.body['code']).toBe(code);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm="runs-api", error="invalid_token"/);
  });

  it('accepts a token within the clock skew after expiry', async () => {
    const bearer = await token({ expiresInSeconds: -30 });
    fx.client.put({ instanceId: 'contoso--aaaaaaaaaaaaaaaaaaaa', input: storedInput('contoso', 'contoso--aaaaaaaaaaaaaaaaaaaa') });
    expect((await getRun('contoso', 'contoso--aaaaaaaaaaaaaaaaaaaa', bearer)).status).toBe(200);
  });

  it('rejects a token signed with a key the issuer does not publish (same kid)', async () => {
    const forged = await generateDevSigningKey();
    const bad = await issueDevToken(
      { ...forged, kid: issuer.currentKey().kid },
      { authority: issuer.url, entraTenantId: CONTOSO_TID, audience: AUDIENCE, roles: ['Runs.Read'], nowMs: fx.clock.now() },
    );
    const res = answer(await runs.getRun(request({ path: '/x', params: { tenantId: 'contoso', runId: 'contoso--aaaaaaaaaaaaaaaaaaaa' }, token: bad }), invocation()));
    expect(res.status).toBe(401);
    expect(res.body['code']).toBe('token_signature_invalid');
  });

  it('rejects a token with an unknown kid and a tampered payload', async () => {
    const forged = await generateDevSigningKey();
    const unknownKid = await issueDevToken(forged, { authority: issuer.url, entraTenantId: CONTOSO_TID, audience: AUDIENCE, roles: ['Runs.Read'], nowMs: fx.clock.now() });
    expect(
      answer(await runs.getRun(request({ path: '/x', params: { tenantId: 'contoso', runId: 'contoso--aaaaaaaaaaaaaaaaaaaa' }, token: unknownKid }), invocation())).status,
    ).toBe(401);

    const [header, payload, signature] = (await token({ roles: ['Runs.Read'] })).split('.');
    const claims = JSON.parse(Buffer.from(payload ?? '', 'base64url').toString()) as Record<string, unknown>;
    const tampered = [header, Buffer.from(JSON.stringify({ ...claims, roles: ['Runs.Approve'] })).toString('base64url'), signature].join('.');
    const res = answer(await runs.getRun(request({ path: '/x', params: { tenantId: 'contoso', runId: 'contoso--aaaaaaaaaaaaaaaaaaaa' }, token: tampered }), invocation()));
    expect(res.status).toBe(401);
    expect(res.body['code']).toBe('token_signature_invalid');
  });

  it('follows a key rotation by refetching the JWKS for an unknown kid, and caches it otherwise', async () => {
    fx.client.put({ instanceId: 'contoso--aaaaaaaaaaaaaaaaaaaa', input: storedInput('contoso', 'contoso--aaaaaaaaaaaaaaaaaaaa') });
    const before = issuer.jwksRequests();
    expect((await getRun('contoso', 'contoso--aaaaaaaaaaaaaaaaaaaa', await token())).status).toBe(200);
    expect((await getRun('contoso', 'contoso--aaaaaaaaaaaaaaaaaaaa', await token())).status).toBe(200);
    expect(issuer.jwksRequests() - before).toBe(1);
    await issuer.rotateKey({ retire: true });
    expect((await getRun('contoso', 'contoso--aaaaaaaaaaaaaaaaaaaa', await token())).status).toBe(200);
    expect(issuer.jwksRequests() - before).toBe(2);
  });
});

describe('runs API: authorization (403 / 404)', () => {
  it('answers 403 with an insufficient_scope challenge when the role is missing', async () => {
    const res = await start('contoso', { agent: 'support-triage', input: 'hi' }, await token({ roles: ['Runs.Read'] }));
    expect(res.status).toBe(403);
    expect(res.body['code']).toBe('permission_missing');
    expect(res.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
    expect(fx.client.starts).toHaveLength(0);
  });

  it('answers 403 when a contoso token is used on the fabrikam path', async () => {
    const res = await start('fabrikam', { agent: 'doc-summarizer', input: 'hi' }, await token());
    expect(res.status).toBe(403);
    expect(res.body['code']).toBe('tenant_mismatch');
  });

  it('answers 404 (never data) when fabrikam asks for a contoso run id', async () => {
    const contosoRun = 'contoso--aaaaaaaaaaaaaaaaaaaa';
    fx.client.put({ instanceId: contosoRun, runtimeStatus: 'Completed', input: storedInput('contoso', contosoRun), output: { status: 'completed', answer: 'secret' } });
    const fabrikamToken = await token({ entraTenantId: FABRIKAM_TID });
    const res = await getRun('fabrikam', contosoRun, fabrikamToken);
    expect(res.status).toBe(404);
    expect(res.body['code']).toBe('run_not_found');
    expect(JSON.stringify(res.body)).not.toContain('secret');
    expect(fx.client.statusReads).toHaveLength(0);
  });

  it('answers 404 when an instance under the tenant prefix belongs to another tenant', async () => {
    const odd = 'fabrikam--bbbbbbbbbbbbbbbbbbbb';
    fx.client.put({ instanceId: odd, input: storedInput('contoso', odd) });
    expect((await getRun('fabrikam', odd, await token({ entraTenantId: FABRIKAM_TID }))).status).toBe(404);
  });

  it('gives no oracle: a missing tenant and an existing foreign one get the same 403; a suspended one only its own callers see', async () => {
    const strip = (r: { status: number; body: Record<string, unknown> }) => ({ status: r.status, code: r.body['code'], detail: r.body['detail'], type: r.body['type'] });
    const contosoToken = await token();
    const missing = strip(await start('globex', { agent: 'support-triage', input: 'hi' }, contosoToken));
    expect(missing).toMatchObject({ status: 403, code: 'tenant_mismatch' });
    // globex does not exist; fabrikam does. A Contoso token cannot tell them apart.
    const foreign = strip(await start('fabrikam', { agent: 'support-triage', input: 'hi' }, contosoToken));
    expect({ ...foreign, detail: String(foreign.detail).replace('fabrikam', 'globex') }).toEqual(missing);
    expect(strip(await getRun('globex', 'globex--aaaaaaaaaaaaaaaaaaaa', contosoToken)).status).toBe(403);
    // Suspended: its own callers hear it; others get the same 403 as above.
    const suspended = await start('northwind', { agent: 'support-triage', input: 'hi' }, await token({ entraTenantId: NORTHWIND_TID }));
    expect(suspended.status).toBe(403);
    expect(suspended.body['code']).toBe('tenant_suspended');
    expect(strip(await start('northwind', { agent: 'support-triage', input: 'hi' }, contosoToken)).code).toBe('tenant_mismatch');
  });

  it('refuses deeply nested JSON with 400 json_too_deep (not a 500)', async () => {
    const deep = `{"agent":"support-triage","input":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    const res = answer(
      await runs.startRun(
        request({
          method: 'POST',
          path: '/tenants/contoso/runs',
          params: { tenantId: 'contoso' },
          token: await token(),
          body: deep,
          headers: { 'content-type': 'application/json' },
        }),
        invocation(fx.logs),
      ),
    );
    expect(res.status).toBe(400);
    expect(res.body['code']).toBe('json_too_deep');
    expect(fx.client.starts).toHaveLength(0);
  });

  it('refuses an agent the tenant has not enabled', async () => {
    const res = await start('fabrikam', { agent: 'support-triage', input: 'hi' }, await token({ entraTenantId: FABRIKAM_TID }));
    expect(res.status).toBe(403);
    expect(res.body['code']).toBe('agent_not_allowed');
  });

  it('answers 404 for an enabled agent that does not exist', async () => {
    const res = await start('contoso', { agent: 'ghost-agent', input: 'hi' }, await token());
    expect(res.status).toBe(404);
    expect(res.body['code']).toBe('agent_not_found');
  });
});

describe('runs API: start', () => {
  it('starts a run: 202 with Location, correlation id and initiator carried into the run', async () => {
    const res = await start('contoso', { agent: 'support-triage', input: { ticket: 'My export is empty' } }, await token({ roles: ['Runs.Write'] }), {
      'x-correlation-id': 'corr-abc.123',
    });
    expect(res.status).toBe(202);
    const id = String(res.body['id']);
    expect(id).toMatch(/^contoso--[A-Za-z0-9_-]{16,}$/);
    expect(res.body).toEqual({ id, status: 'Pending', statusUrl: `${'http://127.0.0.1:7071/api'}/tenants/contoso/runs/${id}` });
    expect(res.headers.get('location')).toBe(res.body['statusUrl']);
    expect(res.headers.get('x-correlation-id')).toBe('corr-abc.123');
    expect(fx.client.starts).toHaveLength(1);
    const input = fx.client.starts[0]?.input as AgentRunInput;
    expect(input).toMatchObject({ tenantId: 'contoso', runId: id, correlationId: 'corr-abc.123', initiator: { kind: 'app', id: 'cccccccc-0000-4000-8000-000000000001' } });
    expect(input.input).toEqual({ inline: '{"ticket":"My export is empty"}' });
    expect(input.agent.definition.id).toBe('support-triage');
  });

  it('records a delegated caller as the app acting on behalf of the user', async () => {
    const res = await start('contoso', { agent: 'support-triage', input: 'hi' }, await token({ roles: [], scopes: ['Runs.Write'], objectId: 'user-oid-1' }));
    expect(res.status).toBe(202);
    expect((fx.client.starts[0]?.input as AgentRunInput).initiator).toEqual({ kind: 'app', id: 'cccccccc-0000-4000-8000-000000000001', onBehalfOf: 'user-oid-1' });
  });

  it('returns the same id and starts once for the same idempotency key', async () => {
    const bearer = await token();
    const first = await start('contoso', { agent: 'support-triage', input: 'hi', idempotencyKey: 'order-42' }, bearer);
    const second = await start('contoso', { agent: 'support-triage', input: 'hi', idempotencyKey: 'order-42' }, bearer);
    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    expect(second.body['id']).toBe(first.body['id']);
    expect(first.body['id']).toBe(runIdFor('contoso', 'api', 'order-42'));
    expect(fx.client.starts).toHaveLength(1);
  });

  it('generates a correlation id when the given one is malformed', async () => {
    const res = await start('contoso', { agent: 'support-triage', input: 'hi' }, await token(), { 'x-correlation-id': 'bad id with spaces' });
    expect(res.headers.get('x-correlation-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect((fx.client.starts[0]?.input as AgentRunInput).correlationId).toBe(res.headers.get('x-correlation-id'));
  });

  it('lists every problem of an invalid body (400)', async () => {
    const res = await start('contoso', { agent: 'Not A Slug', idempotencyKey: 'has:colon', extra: 1 }, await token());
    expect(res.status).toBe(400);
    expect(res.body['code']).toBe('validation_failed');
    const errors = res.body['errors'] as string[];
    expect(errors.some((e) => e.startsWith('agent:'))).toBe(true);
    expect(errors.some((e) => e.startsWith('input:'))).toBe(true);
    expect(errors.some((e) => e.startsWith('idempotencyKey:'))).toBe(true);
    expect(errors.some((e) => e.includes('extra'))).toBe(true);
  });

  it('answers 400 for malformed JSON, 415 for another media type, 413 beyond the limit', async () => {
    const bearer = await token();
    const call = (body: string, headers: Record<string, string>) =>
      runs.startRun(request({ method: 'POST', path: '/tenants/contoso/runs', params: { tenantId: 'contoso' }, token: bearer, body, headers }), invocation()).then(answer);
    expect((await call('{"agent":', { 'content-type': 'application/json' })).status).toBe(400);
    const wrongType = await call('agent=support-triage', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(wrongType.status).toBe(415);
    expect(wrongType.body['code']).toBe('unsupported_media_type');
    const big = await call(JSON.stringify({ agent: 'support-triage', input: 'x'.repeat(300 * 1024) }), { 'content-type': 'application/json; charset=utf-8' });
    expect(big.status).toBe(413);
    expect(big.body['code']).toBe('body_too_large');
    expect(fx.client.starts).toHaveLength(0);
  });

  it('hides unexpected errors behind a generic 500 and logs the details', async () => {
    fx.client.failNext = new Error('storage account key rotated: internal detail');
    const res = await start('contoso', { agent: 'support-triage', input: 'hi' }, await token(), { 'x-correlation-id': 'corr-500' });
    expect(res.status).toBe(500);
    expect(res.body).toMatchObject({ code: 'internal_error', status: 500 });
    expect(JSON.stringify(res.body)).not.toContain('internal detail');
    expect(res.headers.get('x-correlation-id')).toBe('corr-500');
    expect(fx.logs.join('\n')).toContain('internal detail');
  });
});

describe('runs API: read and list', () => {
  const runId = 'contoso--cccccccccccccccccccc';

  it('shows a run waiting for approval with its progress', async () => {
    fx.client.put({
      instanceId: runId,
      runtimeStatus: 'Running',
      input: storedInput('contoso', runId),
      customStatus: {
        turn: 2,
        phase: 'awaiting_approval',
        pendingTools: [],
        usage: { inputTokens: 10, outputTokens: 5, modelCalls: 2 },
        awaitingApproval: [{ toolCallId: 'call_1', tool: 'send_reply', deadline: '2026-01-01T00:00:00.000Z' }],
      },
    });
    const res = await getRun('contoso', runId, await token({ roles: ['Runs.Read'] }));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      id: runId,
      tenantId: 'contoso',
      agent: 'support-triage',
      status: 'AwaitingApproval',
      progress: { phase: 'awaiting_approval', turn: 2, awaitingApproval: [{ toolCallId: 'call_1', tool: 'send_reply' }] },
      usage: { inputTokens: 10, outputTokens: 5, modelCalls: 2 },
    });
    expect(res.body['output']).toBeUndefined();
  });

  it.each([
    ['Completed', { status: 'completed', answer: 'Done', turns: 3, toolCalls: 1, usage: { inputTokens: 1, outputTokens: 2, modelCalls: 3 } }, 'Completed'],
    ['Completed', { status: 'canceled', answer: null, turns: 1, toolCalls: 0, usage: { inputTokens: 0, outputTokens: 0, modelCalls: 0 } }, 'Canceled'],
    ['Terminated', null, 'Canceled'],
    ['Failed', 'Orchestrator function failed: secret stack', 'Failed'],
    ['Pending', null, 'Pending'],
  ] as const)('maps runtime status %s to %s', async (runtimeStatus, output, expected) => {
    fx.client.put({ instanceId: runId, runtimeStatus, input: storedInput('contoso', runId), output });
    const res = await getRun('contoso', runId, await token());
    expect(res.body['status']).toBe(expected);
    if (expected === 'Completed') expect(res.body['output']).toEqual({ answer: 'Done', endReason: 'completed', turns: 3, toolCalls: 1 });
    if (expected === 'Failed') {
      expect(res.body['error']).toEqual({ code: 'run_failed', message: 'The run failed. Quote correlation id corr-1.' });
      expect(JSON.stringify(res.body)).not.toContain('secret stack');
    }
  });

  it('answers 404 for an unknown run id and a malformed one', async () => {
    const bearer = await token();
    expect((await getRun('contoso', 'contoso--dddddddddddddddddddd', bearer)).status).toBe(404);
    expect((await getRun('contoso', '../../etc', bearer)).status).toBe(404);
  });

  it('pages through the tenant’s top-level runs only, newest first', async () => {
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    const contoso = new TenantBlobSpace(fx.deps.requestBlobs, 'contoso');
    const at = (ms: number) => new Date(ms).toISOString();
    for (let i = 0; i < 5; i++) {
      const id = `contoso--run${String(i).padStart(17, '0')}`;
      fx.client.put({ instanceId: id, runtimeStatus: i === 4 ? 'Completed' : 'Running', input: storedInput('contoso', id), createdTime: at(t0 + i * 1000) });
      await indexRun(contoso, id, at(t0 + i * 1000)); // as the run's prepareRun activity does
    }
    // Index entries that must not show: a sub-agent run, a purged instance, another tenant's run id
    // planted in contoso's space, and a fabrikam run in its own space.
    fx.client.put({ instanceId: 'contoso--run00000000000000004--call_1', input: storedInput('contoso', 'x', { depth: 1 }), createdTime: at(t0 + 9000) });
    await indexRun(contoso, 'contoso--run00000000000000004--call_1', at(t0 + 9000));
    await indexRun(contoso, 'contoso--purged0000000000000', at(t0 + 8000));
    fx.client.put({ instanceId: 'fabrikam--run00000000000000000', input: storedInput('fabrikam', 'x'), createdTime: at(t0 + 9000) });
    await indexRun(contoso, 'fabrikam--run00000000000000000', at(t0 + 7000));
    await indexRun(new TenantBlobSpace(fx.deps.requestBlobs, 'fabrikam'), 'fabrikam--run00000000000000000', at(t0 + 9000));

    const bearer = await token({ roles: ['Runs.Read'] });
    const list = (query: Record<string, string>) =>
      runs.listRuns(request({ path: '/tenants/contoso/runs', params: { tenantId: 'contoso' }, query, token: bearer }), invocation()).then(answer);
    const first = await list({ pageSize: '2' });
    expect(first.status).toBe(200);
    const ids1 = (first.body['items'] as { id: string }[]).map((r) => r.id);
    expect(ids1).toEqual(['contoso--run00000000000000004', 'contoso--run00000000000000003']);
    expect(first.body['nextLink']).toContain('continuationToken=');
    const second = await list({ pageSize: '2', continuationToken: String(first.body['continuationToken']) });
    const third = await list({ pageSize: '2', continuationToken: String(second.body['continuationToken']) });
    const all = [...ids1, ...(second.body['items'] as { id: string }[]).map((r) => r.id), ...(third.body['items'] as { id: string }[]).map((r) => r.id)];
    expect(all).toEqual([4, 3, 2, 1, 0].map((i) => `contoso--run${String(i).padStart(17, '0')}`));
    expect(third.body['continuationToken']).toBeUndefined();

    const completed = await list({ status: 'Completed' });
    expect((completed.body['items'] as { id: string; status: string }[]).map((r) => [r.id, r.status])).toEqual([['contoso--run00000000000000004', 'Completed']]);
    expect((await list({ continuationToken: 'garbage' })).status).toBe(400);
    expect((await list({ pageSize: '1000' })).status).toBe(400);
  });
});

describe('runs API: approvals and cancel', () => {
  const runId = 'contoso--eeeeeeeeeeeeeeeeeeee';

  beforeEach(() => {
    fx.client.put({
      instanceId: runId,
      runtimeStatus: 'Running',
      input: storedInput('contoso', runId),
      customStatus: { turn: 1, phase: 'awaiting_approval', pendingTools: [], awaitingApproval: [{ toolCallId: 'call_1', tool: 'send_reply', deadline: '2026-01-01T00:00:00Z' }] },
    });
  });

  const approve = async (body: unknown, bearer: string, id = runId) =>
    answer(
      await runs.approve(
        request({ method: 'POST', path: `/tenants/contoso/runs/${id}/approvals`, params: { tenantId: 'contoso', runId: id }, token: bearer, json: body }),
        invocation(),
      ),
    );
  const cancel = async (bearer: string, id = runId, tenantId = 'contoso') =>
    answer(await runs.cancel(request({ method: 'POST', path: `/tenants/${tenantId}/runs/${id}/cancel`, params: { tenantId, runId: id }, token: bearer }), invocation()));

  it('raises the approval event with the decision and who decided', async () => {
    const res = await approve({ toolCallId: 'call_1', approved: true, comment: 'ok to send' }, await token({ roles: [], scopes: ['Runs.Approve'], objectId: 'approver-oid' }));
    expect(res.status).toBe(202);
    expect(fx.client.events).toEqual([
      { instanceId: runId, eventName: 'approval', eventData: { toolCallId: 'call_1', approved: true, comment: 'ok to send', decidedBy: 'approver-oid', decidedByKind: 'user' } },
    ]);
  });

  it('needs Runs.Approve, a pending tool call and a valid body', async () => {
    expect((await approve({ toolCallId: 'call_1', approved: true }, await token({ roles: ['Runs.Write', 'Runs.Read'] }))).status).toBe(403);
    const notPending = await approve({ toolCallId: 'call_9', approved: false }, await token());
    expect(notPending.status).toBe(409);
    expect(notPending.body['code']).toBe('approval_not_pending');
    const invalid = await approve({ toolCallId: 'call_1', approved: 'yes' }, await token());
    expect(invalid.status).toBe(400);
    expect(fx.client.events).toHaveLength(0);
  });

  it('raises the cancel event for a run in flight and refuses a finished one', async () => {
    const res = await cancel(await token({ roles: ['Runs.Write'] }));
    expect(res.status).toBe(202);
    expect(fx.client.events).toEqual([{ instanceId: runId, eventName: 'cancel', eventData: expect.objectContaining({ requestedBy: 'cccccccc-0000-4000-8000-000000000001' }) }]);
    fx.client.put({ instanceId: runId, runtimeStatus: 'Completed', output: { status: 'completed', answer: 'x' } });
    const finished = await cancel(await token());
    expect(finished.status).toBe(409);
    expect(finished.body['code']).toBe('run_finished');
  });

  it('cannot cancel another tenant’s run', async () => {
    const res = await cancel(await token({ entraTenantId: FABRIKAM_TID }), runId, 'fabrikam');
    expect(res.status).toBe(404);
    expect(fx.client.events).toHaveLength(0);
  });
});

describe('runs API: rate limit', () => {
  it('answers 429 with Retry-After once the tenant’s per-instance budget is spent, then recovers', async () => {
    // fabrikam allows 2 requests per minute.
    const bearer = await token({ entraTenantId: FABRIKAM_TID, roles: ['Runs.Read'] });
    const list = () => runs.listRuns(request({ path: '/tenants/fabrikam/runs', params: { tenantId: 'fabrikam' }, token: bearer }), invocation()).then(answer);
    expect((await list()).status).toBe(200);
    expect((await list()).status).toBe(200);
    const limited = await list();
    expect(limited.status).toBe(429);
    expect(limited.body['code']).toBe('rate_limited');
    expect(limited.headers.get('retry-after')).toBe('30');
    expect(limited.headers.get('x-correlation-id')).toBeTruthy();
    fx.clock.advance(30_000);
    expect((await list()).status).toBe(200);
    // Budgets are per tenant: contoso is unaffected.
    expect((await runs.listRuns(request({ path: '/tenants/contoso/runs', params: { tenantId: 'contoso' }, token: await token() }), invocation()).then(answer)).status).toBe(200);
  });
});

describe('runs API: dependency outages (503, promptly)', () => {
  it('answers the runs list with 503 + Retry-After when Blob cannot be reached, after a bounded number of tries', async () => {
    // A "storage account" that accepts connections and drops them: every SDK try is counted.
    let connections = 0;
    const dead = createServer((socket) => {
      connections += 1;
      socket.destroy();
    });
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const port = (dead.address() as AddressInfo).port;
    try {
      const blobs = new AzureBlobStore(
        { kind: 'connection-string', connectionString: azuriteConnectionString(`http://127.0.0.1:${port}`), container: 'agent-data' },
        REQUEST_PATH_RETRY,
      );
      const api = createRunsApiHandlers({ ...fx.deps, requestBlobs: blobs }, () => fx.client.asClient());
      const res = answer(
        await api.listRuns(request({ path: '/tenants/contoso/runs', params: { tenantId: 'contoso' }, token: await token({ roles: ['Runs.Read'] }) }), invocation()),
      );
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
      expect(res.body).toMatchObject({ status: 503, code: 'storage_unavailable' });
      // The bounded request-path policy: at most REQUEST_PATH_RETRY.maxTries tries (the default SDK policy makes 4, over ~16 s).
      expect(connections).toBeGreaterThan(0);
      expect(connections).toBeLessThanOrEqual(REQUEST_PATH_RETRY.maxTries);
    } finally {
      dead.close();
    }
  });

  it('answers 503 when the orchestration backend answers 5xx (e.g. the local host while its store cannot be written)', async () => {
    const failing = { ...fx.client.asClient(), getStatus: async () => Promise.reject(new Error('The operation failed with an unexpected status code: 503. Details: {}')) };
    const api = createRunsApiHandlers(fx.deps, () => failing as never);
    const res = answer(
      await api.getRun(request({ path: '/tenants/contoso/runs/x', params: { tenantId: 'contoso', runId: 'contoso--aaaaaaaaaaaaaaaaaaaa' }, token: await token() }), invocation()),
    );
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ code: 'orchestration_backend_unavailable' });
    expect(res.headers.get('retry-after')).toBe('5');
  });
});
