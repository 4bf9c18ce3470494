import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LocalFileSecretProvider } from '../../shared/auth/local-file-secret-provider.js';
import { signStandardWebhook } from '../../shared/webhooks/webhook-signature.js';
import { startDevTokenIssuer, type DevTokenIssuer } from '../../devhost/local-services/dev-token-issuer.js';
import { startAgentStack, type AgentStack } from '../helpers/agent-stack.js';
import { eventually } from '../helpers/eventually.js';

/**
 * The front doors end to end: the compiled app on the devhost (real Durable backend, Azurite,
 * the offline model in scripted mode), the shipped tenant catalog, tokens from the development
 * issuer on loopback, and webhook secrets from the local provider. Build first (`npm run build`).
 */

const CONTOSO_TID = '11111111-1111-4111-8111-111111111111';
const FABRIKAM_TID = '22222222-2222-4222-8222-222222222222';

let issuer: DevTokenIssuer;
let stack: AgentStack;
let secretsDir: string;
let ticketsSecret: string;

beforeAll(async () => {
  issuer = await startDevTokenIssuer({ port: 0 });
  secretsDir = mkdtempSync(join(tmpdir(), 'frontdoor-e2e-'));
  const secretsFile = join(secretsDir, 'secrets.json');
  ticketsSecret = new LocalFileSecretProvider(secretsFile).getOrCreate('contoso-tickets-webhook');
  stack = await startAgentStack({ AUTH_AUTHORITY: issuer.url, LOCAL_SECRETS_FILE: secretsFile });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  await issuer?.stop();
  rmSync(secretsDir, { recursive: true, force: true });
});

beforeEach(() => stack.model.reset());

const token = (entraTenantId: string, roles: string[]) => issuer.issue({ entraTenantId, audience: 'api://durable-agent-pipeline-local', roles });

async function call(method: string, path: string, bearer?: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${stack.devhost.url}/api${path}`, {
    method,
    headers: { ...(bearer ? { authorization: `Bearer ${bearer}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
}

async function pollUntil(url: string, bearer: string, statuses: string[], timeoutMs = 20_000): Promise<Record<string, unknown>> {
  let last: Record<string, unknown> = {};
  const probe = async (): Promise<Record<string, unknown> | undefined> => {
    const res = await fetch(url, { headers: { authorization: `Bearer ${bearer}` } });
    last = (await res.json()) as Record<string, unknown>;
    return statuses.includes(String(last['status'])) ? last : undefined;
  };
  return eventually(`the run at ${url} to reach ${statuses.join(' or ')}`, probe, { timeoutMs, intervalMs: 25 }).catch((error: unknown) => {
    throw new Error(`run stuck: ${JSON.stringify(last)} (${String(error)})`);
  });
}

describe('front doors through the devhost', () => {
  it('starts a run with a token, polls it to completion, and keeps it from other tenants', async () => {
    stack.model.script([{ type: 'text', content: 'Summary: all good.' }]);
    const writer = await token(CONTOSO_TID, ['Runs.Write']);
    const started = await call('POST', '/tenants/contoso/runs', writer, { agent: 'doc-summarizer', input: 'Summarize the onboarding docs' }, { 'x-correlation-id': 'e2e-corr-1' });
    expect(started.status).toBe(202);
    expect(started.headers.get('x-correlation-id')).toBe('e2e-corr-1');
    const location = started.headers.get('location') ?? '';
    expect(location).toBe(`${stack.devhost.url}/api/tenants/contoso/runs/${String(started.body['id'])}`);

    const done = await pollUntil(location, writer, ['Completed', 'Failed']);
    expect(done).toMatchObject({ status: 'Completed', tenantId: 'contoso', agent: 'doc-summarizer', output: { answer: 'Summary: all good.' }, correlationId: 'e2e-corr-1' });

    const fabrikam = await token(FABRIKAM_TID, ['Runs.Read']);
    expect((await call('GET', `/tenants/fabrikam/runs/${String(started.body['id'])}`, fabrikam)).status).toBe(404);
    expect((await call('GET', `/tenants/fabrikam/runs`, writer)).status).toBe(403);
    const unauthenticated = await call('GET', `/tenants/contoso/runs/${String(started.body['id'])}`);
    expect(unauthenticated.status).toBe(401);
    expect(unauthenticated.headers.get('content-type')).toBe('application/problem+json');
    expect(unauthenticated.headers.get('www-authenticate')).toContain('Bearer');

    // A run is listed (from the tenant's run index) once its orchestration has started.
    const listed = async (): Promise<string[]> => ((await call('GET', '/tenants/contoso/runs', writer)).body['items'] as { id: string }[]).map((r) => r.id);
    let ids = await listed();
    for (let i = 0; i < 100 && !ids.includes(String(started.body['id'])); i++) {
      await new Promise((r) => setTimeout(r, 20));
      ids = await listed();
    }
    expect(ids).toContain(started.body['id']);
  });

  it('waits for an approval, resumes when approved through the API', async () => {
    stack.model.script([
      { type: 'tool_calls', toolCalls: [{ id: 'call_reply', name: 'send_reply', arguments: { subject: 'Re: export', body: 'Fixed in 2.1' } }] },
      { type: 'text', content: 'Reply sent. classification=bug; urgency=normal' },
    ]);
    const writer = await token(CONTOSO_TID, ['Runs.Write', 'Runs.Approve']);
    const started = await call('POST', '/tenants/contoso/runs', writer, { agent: 'support-triage', input: 'My export is empty' });
    const url = String(started.body['statusUrl']);
    const waiting = await pollUntil(url, writer, ['AwaitingApproval', 'Failed', 'Completed']);
    expect(waiting).toMatchObject({ status: 'AwaitingApproval', progress: { awaitingApproval: [{ toolCallId: 'call_reply', tool: 'send_reply' }] } });
    const approved = await call('POST', `/tenants/contoso/runs/${String(started.body['id'])}/approvals`, writer, { toolCallId: 'call_reply', approved: true });
    expect(approved.status).toBe(202);
    const done = await pollUntil(url, writer, ['Completed', 'Failed']);
    expect(done).toMatchObject({ status: 'Completed', output: { answer: 'Reply sent. classification=bug; urgency=normal' } });
  });

  it('cancels a run that waits for approval', async () => {
    stack.model.script([{ type: 'tool_calls', toolCalls: [{ id: 'call_x', name: 'send_reply', arguments: { subject: 's', body: 'b' } }] }]);
    const writer = await token(CONTOSO_TID, ['Runs.Write']);
    const started = await call('POST', '/tenants/contoso/runs', writer, { agent: 'support-triage', input: 'Cancel me' });
    const url = String(started.body['statusUrl']);
    await pollUntil(url, writer, ['AwaitingApproval']);
    expect((await call('POST', `/tenants/contoso/runs/${String(started.body['id'])}/cancel`, writer)).status).toBe(202);
    expect(await pollUntil(url, writer, ['Canceled', 'Completed', 'Failed'])).toMatchObject({ status: 'Canceled' });
  });

  it('starts a run from a signed webhook once, however often it is delivered', async () => {
    stack.model.script([{ type: 'text', content: 'Triaged.' }]);
    const body = JSON.stringify({ ticket: { id: 'T-9', subject: 'Login fails', description: 'Since the update', requester: { email: 'a@contoso.example' } } });
    const send = async () => {
      const timestamp = String(Math.floor(Date.now() / 1000));
      return call('POST', '/webhooks/contoso/tickets', undefined, body, {
        'webhook-timestamp': timestamp,
        'webhook-signature': signStandardWebhook(ticketsSecret, 'e2e-delivery-1', timestamp, body),
        'webhook-id': 'e2e-delivery-1',
      });
    };
    const first = await send();
    expect(first.status).toBe(202);
    const again = await send();
    expect(again.body['id']).toBe(first.body['id']);
    const reader = await token(CONTOSO_TID, ['Runs.Read']);
    expect(await pollUntil(String(first.body['statusUrl']), reader, ['Completed', 'Failed'])).toMatchObject({ status: 'Completed', agent: 'support-triage' });
    expect(stack.model.requests()).toHaveLength(1);
    const forged = await call('POST', '/webhooks/contoso/tickets', undefined, body, {
      'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
      'webhook-signature': `v1,${Buffer.alloc(32).toString('base64')}`,
      'webhook-id': 'x',
    });
    expect(forged.status).toBe(401);
  });
});
