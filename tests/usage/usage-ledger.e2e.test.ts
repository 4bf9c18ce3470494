import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevTokenIssuer, type DevTokenIssuer } from '../../devhost/local-services/dev-token-issuer.js';
import { repoRoot, startAgentStack, type AgentStack } from '../helpers/agent-stack.js';
import { eventually } from '../helpers/eventually.js';

/**
 * The usage ledger end to end: a run with a tool call through the runs API on the compiled app
 * (devhost, Azurite, the dev token issuer, the offline model scripted with its reported usage),
 * read back through `GET /api/tenants/{tenantId}/usage` with a `Usage.Read` token and with
 * `npm run usage` (its compiled script). Build first (`npm run build`).
 */

const CONTOSO_TID = '11111111-1111-4111-8111-111111111111';
const FABRIKAM_TID = '22222222-2222-4222-8222-222222222222';

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

const token = (entraTenantId: string, options: { roles?: string[]; scopes?: string[] }) =>
  issuer.issue({ entraTenantId, audience: 'api://durable-agent-pipeline-local', ...options });

async function call(method: string, path: string, bearer: string, body?: unknown) {
  const res = await fetch(`${stack.devhost.url}/api${path}`, {
    method,
    headers: { authorization: `Bearer ${bearer}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
}

function usageCli(args: string[]): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--disable-warning=ExperimentalWarning', `${repoRoot}/dist-dev/tools/usage-cli.js`, ...args],
      { env: { ...process.env, STORAGE_CONNECTION_STRING: stack.azurite.connectionString } },
      (error, stdout, stderr) => resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout: stdout + stderr }),
    );
  });
}

const EXPECTED = {
  'tokens.input:gpt-4o-mini': 1200 + 1500,
  'tokens.output:gpt-4o-mini': 30 + 70,
  'runs.started': 1,
  'runs.completed': 1,
  'tool.calls': 1,
};

describe('usage ledger', () => {
  it('records a run’s tokens per deployment, its start and end and its tool call, readable with Usage.Read', async () => {
    stack.model.script([
      { type: 'tool_calls', toolCalls: [{ id: 'call_list', name: 'list_documents', arguments: { prefix: '' } }], usage: { promptTokens: 1200, completionTokens: 30 } },
      { type: 'text', content: 'Nothing to summarise yet.', usage: { promptTokens: 1500, completionTokens: 70 } },
    ]);
    const writer = await token(CONTOSO_TID, { roles: ['Runs.Read', 'Runs.Write'] });
    const started = await call('POST', '/tenants/contoso/runs', writer, { agent: 'doc-summarizer', input: 'Summarise the onboarding notes' });
    expect(started.status).toBe(202);
    const statusUrl = `/tenants/contoso/runs/${String(started.body['id'])}`;
    await eventually('the run to complete', async () => (await call('GET', statusUrl, writer)).body['status'] === 'Completed');

    const reader = await token(CONTOSO_TID, { roles: ['Usage.Read'] });
    // The run's last event (run.completed) is recorded by the activity that ends the run, before Durable completes it.
    const usage = await call('GET', '/tenants/contoso/usage', reader);
    expect(usage.status).toBe(200);
    expect(usage.body['totals']).toEqual(EXPECTED);
    expect(usage.body['totalTokens']).toBe(2800);
    const daily = await call('GET', '/tenants/contoso/usage?granularity=day', reader);
    expect(daily.body['totals']).toEqual(EXPECTED);
    expect((daily.body['buckets'] as { start: string }[]).every((b) => b.start.endsWith('T00:00:00.000Z'))).toBe(true);
  }, 60_000);

  it('needs Usage.Read, answers another tenant’s token 403, and problem+json for bad ranges', async () => {
    const writer = await token(CONTOSO_TID, { roles: ['Runs.Read', 'Runs.Write', 'Runs.Approve'] });
    expect(await call('GET', '/tenants/contoso/usage', writer)).toMatchObject({ status: 403, body: { code: 'permission_missing' } });
    const fabrikam = await token(FABRIKAM_TID, { roles: ['Usage.Read'] });
    expect(await call('GET', '/tenants/contoso/usage', fabrikam)).toMatchObject({ status: 403, body: { code: 'tenant_mismatch' } });
    const own = await call('GET', '/tenants/fabrikam/usage', fabrikam);
    expect(own).toMatchObject({ status: 200, body: { tenantId: 'fabrikam', totals: {}, totalTokens: 0 } });
    const reader = await token(CONTOSO_TID, { roles: ['Usage.Read'] });
    const backwards = await call('GET', '/tenants/contoso/usage?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z', reader);
    expect(backwards.status).toBe(400);
    expect(backwards.contentType).toContain('application/problem+json');
    expect((await call('GET', '/tenants/contoso/usage?from=2025-01-01T00:00:00Z&to=2026-01-01T00:00:00Z', reader)).status).toBe(400);
  });

  it('npm run usage prints the same totals', async () => {
    const json = await usageCli(['--tenant', 'contoso', '--granularity', 'day', '--json']);
    expect(json.code).toBe(0);
    expect((JSON.parse(json.stdout) as { totals: unknown }).totals).toEqual(EXPECTED);
    const text = await usageCli(['--tenant', 'contoso']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/tokens\.input:gpt-4o-mini/);
    expect(text.stdout).toMatch(/total tokens: 2800/);
    expect((await usageCli(['--tenant', 'contoso', '--granularity', 'week'])).code).toBe(2);
  });
});
