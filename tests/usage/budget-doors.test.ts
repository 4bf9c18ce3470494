import { InvocationContext } from '@azure/functions';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startDevTokenIssuer, type DevTokenIssuer } from '../../devhost/local-services/dev-token-issuer.js';
import { createBatchActivities } from '../../shared/batch/batch-activities.js';
import { botConversationInstanceId, createBotMessagesHandler } from '../../shared/bot/bot-messages-handler.js';
import type { BotConversationInput } from '../../shared/bot/bot-types.js';
import { createBotActivities } from '../../shared/bot/bot-activities.js';
import type { ConnectorClient } from '../../shared/bot/connector-client.js';
import { runIdFor } from '../../shared/runs/admission.js';
import { createRunsApiHandlers } from '../../shared/http/runs-api.js';
import { createAgentRequestHandler, DeadLetterReasons, type ReceivedQueueMessage } from '../../shared/queue/agent-request.js';
import { MemoryBlobStore } from '../../shared/storage/memory-blob-store.js';
import { StaticTenantDirectory } from '../../shared/tenancy/tenant-directory.js';
import { TenantSchema, type Tenant } from '../../shared/tenancy/tenant.js';
import { TenantBudget } from '../../shared/usage/budget-gate.js';
import { createWebhookHandler } from '../../shared/webhooks/webhook-handler.js';
import { signStandardWebhook } from '../../shared/webhooks/webhook-signature.js';
import { AUDIENCE, CONTOSO_SECRET, CONTOSO_TID, answer, frontDoorFixture, invocation, request, testTenants, type FrontDoorFixture } from '../frontdoor/front-door-kit.js';

/**
 * Budget refusal at every door: the admission path's budget gate (TenantBudget over a fake
 * ledger) refuses a tenant whose period budget is spent, and each door answers its own way.
 */

const BUDGET = 1_000;
const TEAMS_TID = '44444444-4444-4444-8444-444444444444';
/** 2026-12-02T20:00:00Z: the monthly period ends 2027-01-01T00:00:00Z. */
const NOW = Date.UTC(2026, 11, 2, 20, 0, 0);
const PERIOD_END = Date.UTC(2027, 0, 1);
const RETRY_AFTER = String((PERIOD_END - NOW) / 1000);

/** contoso with a monthly budget (and a bot), the rest as the front-door kit has them. */
const tenants: Tenant[] = testTenants.map((t) =>
  t.id === 'contoso' ? TenantSchema.parse({ ...t, teamsTenantId: TEAMS_TID, botAgent: 'support-triage', planOverrides: { tokenBudgetPerPeriod: BUDGET } }) : t,
);

/** The ledger's reader as the budget sees it: a settable total per tenant. */
class FakeLedger {
  used = new Map<string, number>();
  reads = 0;
  async periodUsage(tenantId: string): Promise<number> {
    this.reads += 1;
    return this.used.get(tenantId) ?? 0;
  }
}

let issuer: DevTokenIssuer;
let fx: FrontDoorFixture;
let ledger: FakeLedger;
let budget: TenantBudget;

beforeAll(async () => {
  issuer = await startDevTokenIssuer({ port: 0 });
});
afterAll(async () => {
  await issuer.stop();
});
beforeEach(() => {
  fx = frontDoorFixture(issuer);
  fx.clock.ms = NOW;
  ledger = new FakeLedger();
  const directory = new StaticTenantDirectory(tenants);
  budget = new TenantBudget({ usage: ledger, tenants: directory, now: fx.clock.now, cacheTtlMs: 15_000 });
  Object.assign(fx.deps, { tenants: directory, budget });
});

const spend = (tokens: number): void => void ledger.used.set('contoso', tokens);

describe('runs API', () => {
  const start = async () => {
    const runs = createRunsApiHandlers(fx.deps, () => fx.client.asClient());
    const token = await issuer.issue({ entraTenantId: CONTOSO_TID, audience: AUDIENCE, roles: ['Runs.Write'], nowMs: fx.clock.now() });
    return answer(
      await runs.startRun(
        request({ method: 'POST', path: '/tenants/contoso/runs', params: { tenantId: 'contoso' }, token, json: { agent: 'support-triage', input: 'hi' } }),
        invocation(fx.logs),
      ),
    );
  };

  it('admits while the budget lasts', async () => {
    spend(BUDGET - 1);
    expect((await start()).status).toBe(202);
    expect(fx.client.starts).toHaveLength(1);
  });

  it('answers 429 problem+json budget_exhausted with Retry-After = seconds to the next period, and starts nothing', async () => {
    spend(BUDGET);
    const res = await start();
    expect(res.status).toBe(429);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.headers.get('retry-after')).toBe(RETRY_AFTER);
    expect(res.body).toMatchObject({
      status: 429,
      code: 'budget_exhausted',
      retryAfterSeconds: Number(RETRY_AFTER),
      budget: BUDGET,
      used: BUDGET,
      periodEnd: new Date(PERIOD_END).toISOString(),
    });
    expect(fx.client.starts).toHaveLength(0);
  });

  it('a tenant without a budget is never refused (and its usage is never read)', async () => {
    const runs = createRunsApiHandlers(fx.deps, () => fx.client.asClient());
    ledger.used.set('fabrikam', 10 ** 12);
    const token = await issuer.issue({ entraTenantId: '22222222-2222-4222-8222-222222222222', audience: AUDIENCE, roles: ['Runs.Write'], nowMs: fx.clock.now() });
    const res = answer(
      await runs.startRun(
        request({ method: 'POST', path: '/tenants/fabrikam/runs', params: { tenantId: 'fabrikam' }, token, json: { agent: 'doc-summarizer', input: 'hi' } }),
        invocation(fx.logs),
      ),
    );
    expect(res.status).toBe(202);
    expect(ledger.reads).toBe(0);
  });
});

describe('webhooks', () => {
  it('answers 429 with Retry-After so the sender retries later; nothing starts', async () => {
    spend(BUDGET + 5);
    const handler = createWebhookHandler(fx.deps, () => fx.client.asClient());
    const body = JSON.stringify({ ticket: { id: 'T-1', subject: 'Export is empty' } });
    const timestamp = String(Math.floor(fx.clock.now() / 1000));
    const headers = {
      'content-type': 'application/json',
      'webhook-id': 'delivery-1',
      'webhook-timestamp': timestamp,
      'webhook-signature': signStandardWebhook(CONTOSO_SECRET, 'delivery-1', timestamp, body),
    };
    const res = answer(
      await handler(request({ method: 'POST', path: '/webhooks/contoso/tickets', params: { tenantId: 'contoso', source: 'tickets' }, headers, body }), invocation(fx.logs)),
    );
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe(RETRY_AFTER);
    expect(res.body['code']).toBe('budget_exhausted');
    expect(fx.client.starts).toHaveLength(0);
  });
});

describe('queue', () => {
  it('dead-letters the request with reason BudgetExhausted (not abandoned for redelivery)', async () => {
    spend(BUDGET);
    const config = { ...fx.deps.config, tenancy: { mode: 'single' as const, tenantId: 'contoso' } };
    const handler = createAgentRequestHandler({ ...fx.deps, config }, () => fx.client.asClient());
    const settled: { how: string; reason?: string; description?: string }[] = [];
    const actions = {
      complete: async () => void settled.push({ how: 'complete' }),
      deadletter: async (_m: unknown, _o: unknown, reason: { value: string }, description: { value: string }) =>
        void settled.push({ how: 'deadletter', reason: reason.value, description: description.value }),
      abandon: async () => void settled.push({ how: 'abandon' }),
    };
    const message: ReceivedQueueMessage = { messageId: 'm-1', body: JSON.stringify({ tenantId: 'contoso', agent: 'support-triage', input: 'hi' }) };
    await handler({ messages: [message], actions }, new InvocationContext({ invocationId: 'q', functionName: 'agentRequests', logHandler: () => undefined }));
    expect(settled).toHaveLength(1);
    expect(settled[0]).toMatchObject({ how: 'deadletter', reason: DeadLetterReasons.budgetExhausted });
    expect(settled[0]?.description).toMatch(/^budget_exhausted: .*renews at 2027-01-01T00:00:00.000Z/);
    expect(fx.client.starts).toHaveLength(0);
  });
});

describe('bot', () => {
  it('tells the user in the conversation (202, a wrapper that only posts the refusal); no agent run starts', async () => {
    spend(BUDGET);
    const serviceUrl = 'https://smba.example.test/emea/';
    const botTokens = { verify: async () => ({ serviceUrl, appId: 'bot-app', endorsements: ['msteams'] }) };
    const handler = createBotMessagesHandler({ ...fx.deps, botTokens }, () => fx.client.asClient());
    const activity = {
      type: 'message',
      id: 'act-1',
      serviceUrl,
      channelId: 'msteams',
      from: { id: 'user-1' },
      recipient: { id: 'bot-1' },
      conversation: { id: 'conv-1' },
      text: 'hello',
      channelData: { tenant: { id: TEAMS_TID } },
    };
    const send = async () => answer(await handler(request({ method: 'POST', path: '/messages', token: 'bot-token', json: activity }), invocation(fx.logs)));
    const res = await send();
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ refused: 'budget_exhausted' });
    expect(fx.client.starts).toHaveLength(1);
    const start = fx.client.starts[0] as { name: string; instanceId: string; input: BotConversationInput };
    expect(start.name).toBe('botConversationRun');
    expect(start.instanceId).toBe(botConversationInstanceId(runIdFor('contoso', 'bot', 'conv-1\nact-1')));
    expect(start.input.refusal).toEqual({ code: 'budget_exhausted', message: expect.stringContaining('renews on 2027-01-01 (UTC)') });
    // A channel redelivery starts nothing new.
    expect((await send()).status).toBe(202);
    expect(fx.client.starts).toHaveLength(1);
  });

  it('the reply activity posts the refusal as the message', async () => {
    const posted: { text?: string }[] = [];
    const connector = { reply: async (_url: string, _conversation: string, activity: { text?: string }) => (posted.push(activity), { delivered: true, status: 201 }) };
    const bot = createBotActivities({ connector: connector as unknown as ConnectorClient, blobs: new MemoryBlobStore() });
    const conversation = { serviceUrl: 'https://smba.example.test/', conversationId: 'conv-1', replyToId: 'act-1', channelId: 'msteams', bot: { id: 'b' }, user: { id: 'u' } };
    await bot.postReply({ tenantId: 'contoso', runId: 'contoso--x', conversation, notice: 'Budget spent.' });
    expect(posted.map((a) => a.text)).toEqual(['Budget spent.']);
  });

  it('a rate-limit refusal still answers 429 (only the budget is told in the conversation)', async () => {
    const limited = tenants.map((t) => (t.id === 'contoso' ? { ...t, rateLimitPerMinute: 1 } : t));
    const directory = new StaticTenantDirectory(limited);
    const serviceUrl = 'https://smba.example.test/emea/';
    const botTokens = { verify: async () => ({ serviceUrl, appId: 'bot-app', endorsements: ['msteams'] }) };
    const handler = createBotMessagesHandler({ ...fx.deps, tenants: directory, botTokens }, () => fx.client.asClient());
    const activity = (id: string) => ({
      type: 'message',
      id,
      serviceUrl,
      channelId: 'msteams',
      from: { id: 'user-1' },
      recipient: { id: 'bot-1' },
      conversation: { id: 'conv-1' },
      text: 'hello',
      channelData: { tenant: { id: TEAMS_TID } },
    });
    const send = async (id: string) => answer(await handler(request({ method: 'POST', path: '/messages', token: 'bot-token', json: activity(id) }), invocation(fx.logs)));
    expect((await send('a')).status).toBe(202);
    const res = await send('b');
    expect(res.status).toBe(429);
    expect(res.body['code']).toBe('rate_limited');
  });
});

describe('batch', () => {
  const prepare = (blobs = new MemoryBlobStore()) =>
    createBatchActivities({ catalog: fx.deps.catalog, runtime: { blobs, budget, nowMs: fx.clock.now } }).prepareBatch({
      batchId: 'batch.contoso.nightly.20261202T200000Z',
      scheduleId: 'nightly',
      tenantId: 'contoso',
      agentId: 'support-triage',
      slot: new Date(NOW).toISOString(),
      maxConcurrency: 2,
      input: { items: [{ ticket: { id: 'A' } }, { ticket: { id: 'B' } }], template: { template: 'Ticket {{/ticket/id}}' } },
      variables: {},
      initiator: { kind: 'schedule', id: 'nightly' },
      correlationId: 'c-1',
    });

  it('records every item as not run, with the reason, when the budget is spent', async () => {
    spend(BUDGET);
    const { items } = await prepare();
    expect(items).toHaveLength(2);
    for (const item of items) expect(item.rejected).toMatch(/^budget_exhausted: .*renews at 2027-01-01T00:00:00.000Z$/);
  });

  it('runs the items while the budget lasts', async () => {
    spend(10);
    const { items } = await prepare();
    expect(items.map((i) => i.rejected)).toEqual([undefined, undefined]);
    expect(items.map((i) => i.input)).toEqual([{ inline: 'Ticket A' }, { inline: 'Ticket B' }]);
  });
});
