import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostExtension } from '../../devhost/host/extension-types.js';
import type { ServiceBusExtension } from '../../devhost/service-bus/service-bus-extension.js';
import type { StoredServiceBusMessage } from '../../devhost/service-bus/service-bus-store.js';
import { LocalFileSecretProvider } from '../../shared/auth/local-file-secret-provider.js';
import { signedQueueProperties } from '../../shared/queue/queue-signature.js';
import { runIdFor } from '../../shared/runs/admission.js';
import type { RunReply } from '../../shared/queue/reply-types.js';
import { DurableApi, startAgentStack, type AgentStack } from '../helpers/agent-stack.js';
import { eventually } from '../helpers/eventually.js';

/**
 * The reply path end to end: the real app on the devhost (Azurite, offline model), a request on
 * `agent-requests` naming a reply queue, the run through `queuedAgentRun`, and the result
 * published to the devhost queue by the local ReplyPublisher (admin API + master key file), as
 * configured through settings.
 */

const isServiceBus = (e: HostExtension): e is ServiceBusExtension => e.triggerTypes.includes('serviceBusTrigger');

/** A free loopback port: the app reads its settings (the admin URL) before the devhost listens. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return address.port;
}

let stack: AgentStack;
let sb: ServiceBusExtension;
let durable: DurableApi;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'reply-queue-'));
  const port = await freePort();
  stack = await startAgentStack(
    {
      LOCAL_SERVICEBUS_ADMIN_URL: `http://127.0.0.1:${port}`,
      LOCAL_SERVICEBUS_ADMIN_KEY_FILE: join(dir, 'keys.json'),
      REPLY_PUBLISH_RETRY_INTERVAL_MS: '20',
      LOCAL_SECRETS_FILE: join(dir, 'secrets.json'),
    },
    { port, storage: join(dir, 'devhost.db') },
  );
  const extension = stack.devhost.extension(isServiceBus);
  if (!extension) throw new Error('no Service Bus extension');
  sb = extension;
  durable = new DurableApi(stack.devhost);
});
afterAll(async () => {
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A request signed with the tenant's local queue secret, as a producer sends it (docs/queue.md). */
function send(body: Record<string, unknown>, message: { messageId: string; replyTo?: string }): void {
  const text = JSON.stringify(body);
  const secret = new LocalFileSecretProvider(join(dir, 'secrets.json')).getOrCreate(`${String(body['tenantId'])}-queue`);
  const idempotencyKey = typeof body['idempotencyKey'] === 'string' ? body['idempotencyKey'] : undefined;
  sb.send('agent-requests', {
    ...message,
    body: text,
    contentType: 'application/json',
    applicationProperties: signedQueueProperties(secret, { tenantId: String(body['tenantId']), idempotencyKey, body: text }, Date.now()),
  });
}

const waitForReply = (queue: string, timeoutMs = 20_000): Promise<StoredServiceBusMessage> =>
  eventually(`a reply on '${queue}'`, () => sb.store.peek(queue, { maxMessages: 1 })[0], { timeoutMs, intervalMs: 15 });

describe('reply queue', () => {
  it('publishes the result to the replyTo queue named in the body once the run completes', async () => {
    stack.model.script([{ type: 'text', content: 'Your ticket is triaged: priority 2.' }]);
    send(
      { tenantId: 'contoso', agent: 'support-triage', input: 'My VM will not start', replyTo: 'contoso-triage-replies', correlationId: 'corr-reply-1', idempotencyKey: 'reply-1' },
      { messageId: 'reply-1' },
    );
    const message = await waitForReply('contoso-triage-replies');
    const runId = runIdFor('contoso', 'queue', 'reply-1');
    expect(message.messageId).toBe(`${runId}:reply`);
    expect(message.correlationId).toBe('corr-reply-1');
    expect(message.contentType).toBe('application/json');
    const reply = message.body as RunReply;
    expect(reply).toMatchObject({
      runId,
      tenantId: 'contoso',
      agent: 'support-triage',
      correlationId: 'corr-reply-1',
      requestMessageId: 'reply-1',
      outcome: 'completed',
      output: { status: 'completed', answer: 'Your ticket is triaged: priority 2.' },
    });
    // The run keeps its own id (runs API, approvals, cancel); the wrapper is `<runId>:reply`.
    expect((await durable.done(runId)).runtimeStatus).toBe('Completed');
    expect((await durable.done(`${runId}:reply`)).runtimeStatus).toBe('Completed');
    expect(sb.store.peek('agent-requests', { deadLetter: true, maxMessages: 10 })).toHaveLength(0);
  });

  it("uses the message's ReplyTo property when the body names no reply queue", async () => {
    stack.model.script([{ type: 'text', content: 'Done.' }]);
    send({ tenantId: 'contoso', agent: 'support-triage', input: 'Reset my password', idempotencyKey: 'reply-2' }, { messageId: 'reply-2', replyTo: 'contoso-property-replies' });
    const message = await waitForReply('contoso-property-replies');
    expect(message.body).toMatchObject({ runId: runIdFor('contoso', 'queue', 'reply-2'), outcome: 'completed', output: { answer: 'Done.' } });
  });

  it("dead-letters a request whose reply queue is not one of the tenant's, and starts nothing", async () => {
    send(
      { tenantId: 'contoso', agent: 'support-triage', input: 'Send the answer to fabrikam', replyTo: 'fabrikam-replies', idempotencyKey: 'reply-foreign' },
      { messageId: 'reply-foreign' },
    );
    await sb.waitForIdle();
    const dead = sb.store.peek('agent-requests', { deadLetter: true, maxMessages: 10 }).find((m) => m.messageId === 'reply-foreign');
    expect(dead).toMatchObject({ deliveryCount: 1, deadLetterReason: 'AgentRequestRejected' });
    expect(dead?.deadLetterErrorDescription).toMatch(/reply_queue_not_allowed/);
    expect(await durable.exists(runIdFor('contoso', 'queue', 'reply-foreign'))).toBe(false);
    expect(await durable.exists(`${runIdFor('contoso', 'queue', 'reply-foreign')}:reply`)).toBe(false);
    expect(sb.store.peek('fabrikam-replies', { maxMessages: 10 })).toHaveLength(0);
  });

  it('answers a failed run too (outcome failed, with the error)', async () => {
    // 400 is not retryable: the model call fails for good and agentRun fails.
    stack.model.reset();
    stack.model.setFaults([{ status: 400, message: 'bad request (test)' }]);
    try {
      send({ tenantId: 'contoso', agent: 'support-triage', input: 'Break please', replyTo: 'contoso-failed-replies', idempotencyKey: 'reply-3' }, { messageId: 'reply-3' });
      const message = await waitForReply('contoso-failed-replies');
      const runId = runIdFor('contoso', 'queue', 'reply-3');
      expect(message.body).toMatchObject({ runId, outcome: 'failed', error: { message: expect.stringMatching(/model call failed/) } });
      expect((await durable.done(runId)).runtimeStatus).toBe('Failed');
    } finally {
      stack.model.reset();
    }
  });
});
