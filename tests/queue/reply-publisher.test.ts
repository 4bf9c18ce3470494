import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvocationContext } from '@azure/functions';
import { afterAll, describe, expect, it } from 'vitest';
import { createPublishRunReplyActivity } from '../../shared/queue/reply-activity.js';
import { DevhostQueueReplyPublisher, UnconfiguredReplyPublisher, type ReplyPublisher } from '../../shared/queue/reply-publisher.js';
import type { RunReply } from '../../shared/queue/reply-types.js';

const dir = mkdtempSync(join(tmpdir(), 'reply-publisher-'));
const keyFile = join(dir, 'keys.json');
writeFileSync(keyFile, JSON.stringify({ masterKey: 'master-123', hostKeys: {}, functionKeys: {} }));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const reply: RunReply = {
  runId: 'contoso--abcdefghijklmnop',
  tenantId: 'contoso',
  agent: 'support-triage',
  correlationId: 'corr-1',
  requestMessageId: 'm-1',
  outcome: 'completed',
  output: { status: 'completed', answer: 'ok', turns: 1, toolCalls: 0, usage: { inputTokens: 1, outputTokens: 1, modelCalls: 1 } },
};

function fakeFetch(status: number, seen: { url: string; init: RequestInit }[] = []): typeof fetch {
  return (async (url: string | URL | Request, init?: RequestInit) => {
    seen.push({ url: String(url), init: init ?? {} });
    return new Response(status === 201 ? '{"messageIds":["x"]}' : 'nope', { status });
  }) as typeof fetch;
}

describe('DevhostQueueReplyPublisher', () => {
  it('posts the reply to the admin queue API with the master key and a run-derived message id', async () => {
    const seen: { url: string; init: RequestInit }[] = [];
    await new DevhostQueueReplyPublisher('http://127.0.0.1:7071/', keyFile, fakeFetch(201, seen)).publish('triage replies', reply);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.url).toBe('http://127.0.0.1:7071/admin/devhost/queues/triage%20replies/messages');
    expect((seen[0]?.init.headers as Record<string, string>)['x-functions-key']).toBe('master-123');
    expect(JSON.parse(String(seen[0]?.init.body))).toEqual({
      body: reply,
      contentType: 'application/json',
      messageId: 'contoso--abcdefghijklmnop:reply',
      correlationId: 'corr-1',
      subject: 'agent-run-result',
    });
  });

  it('marks 5xx and unreachable as retryable, 4xx and a key file without masterKey as not', async () => {
    const publish = (p: ReplyPublisher) =>
      p.publish('q', reply).then(
        () => undefined,
        (e: unknown) => e as { name: string; retryable: boolean },
      );
    expect(await publish(new DevhostQueueReplyPublisher('http://x', keyFile, fakeFetch(503)))).toMatchObject({ name: 'ReplyPublishError', retryable: true });
    expect(await publish(new DevhostQueueReplyPublisher('http://x', keyFile, fakeFetch(400)))).toMatchObject({ retryable: false });
    const unreachable = (async () => {
      throw new TypeError('fetch failed');
    }) as typeof fetch;
    expect(await publish(new DevhostQueueReplyPublisher('http://x', keyFile, unreachable))).toMatchObject({ retryable: true });
    expect(await publish(new DevhostQueueReplyPublisher('http://x', join(dir, 'missing.json'), fakeFetch(201)))).toMatchObject({ retryable: true });
    const badKeys = join(dir, 'bad.json');
    writeFileSync(badKeys, '{}');
    expect(await publish(new DevhostQueueReplyPublisher('http://x', badKeys, fakeFetch(201)))).toMatchObject({ retryable: false });
  });
});

describe('publishRunReply activity', () => {
  const context = new InvocationContext({ functionName: 'queuePublishRunReply', invocationId: 'i-1' });

  it('returns a failure no retry can fix instead of throwing it', async () => {
    const out = await createPublishRunReplyActivity(new UnconfiguredReplyPublisher())({ queue: 'q', reply }, context);
    expect(out).toEqual({ published: false, error: { code: 'reply_publish_failed', message: expect.stringMatching(/no reply transport/) } });
  });

  it('throws a retryable failure so the Durable retry policy repeats it', async () => {
    const activity = createPublishRunReplyActivity(new DevhostQueueReplyPublisher('http://x', keyFile, fakeFetch(503)));
    await expect(activity({ queue: 'q', reply }, context)).rejects.toMatchObject({ retryable: true });
    expect(await createPublishRunReplyActivity(new DevhostQueueReplyPublisher('http://x', keyFile, fakeFetch(201)))({ queue: 'q', reply }, context)).toEqual({ published: true });
  });
});
