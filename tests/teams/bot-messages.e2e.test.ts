import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { botConversationInstanceId } from '../../shared/bot/bot-messages-handler.js';
import { DurableApi, startAgentStack, type AgentStack } from '../helpers/agent-stack.js';
import { eventually } from '../helpers/eventually.js';

/**
 * The Teams / bot door end to end: the real app on the devhost, a loopback Bot Framework issuer
 * (OpenID metadata + JWKS, reached through BOT_OPENID_METADATA_URL as the real one would be) and a
 * fake Bot Connector on loopback that records the activities the app posts.
 */

const APP_ID = 'test-bot-app-id';
const ISSUER = 'https://api.botframework.com';
const CONTOSO_TEAMS_TENANT = '11111111-1111-4111-8111-111111111111';
const CONNECTOR_TOKEN = 'fake-connector-token';

interface Posted {
  path: string;
  authorization: string | undefined;
  body: { type: string; text?: string; replyToId?: string; conversation?: { id: string }; recipient?: { id: string } };
}

let stack: AgentStack;
let api: DurableApi;
let issuer: Server;
let connector: Server;
let connectorUrl = '';
let signingKey: CryptoKey;
let strangerKey: CryptoKey;
let otherChannelKey: CryptoKey;
let unendorsedKey: CryptoKey;
const posted: Posted[] = [];

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

beforeAll(async () => {
  const pair = await generateKeyPair('RS256', { extractable: true });
  signingKey = pair.privateKey;
  strangerKey = (await generateKeyPair('RS256')).privateKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'bf-key-1', use: 'sig', alg: 'RS256', endorsements: ['msteams'] };
  // Keys of the same issuer that may not speak for Teams: one endorsed for another channel, one for none.
  const other = await generateKeyPair('RS256', { extractable: true });
  otherChannelKey = other.privateKey;
  const otherJwk = { ...(await exportJWK(other.publicKey)), kid: 'bf-key-skype', use: 'sig', alg: 'RS256', endorsements: ['skype'] };
  const bare = await generateKeyPair('RS256', { extractable: true });
  unendorsedKey = bare.privateKey;
  const bareJwk = { ...(await exportJWK(bare.publicKey)), kid: 'bf-key-bare', use: 'sig', alg: 'RS256' };
  let issuerUrl = '';
  issuer = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.url === '/v1/.well-known/openidconfiguration') res.end(JSON.stringify({ issuer: ISSUER, jwks_uri: `${issuerUrl}/v1/.well-known/keys` }));
    else if (req.url === '/v1/.well-known/keys') res.end(JSON.stringify({ keys: [jwk, otherJwk, bareJwk] }));
    else res.writeHead(404).end('{}');
  });
  issuerUrl = await listen(issuer);
  connector = createServer((req, res) => {
    let text = '';
    req.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    req.on('end', () => {
      posted.push({ path: req.url ?? '', authorization: req.headers.authorization, body: JSON.parse(text) as Posted['body'] });
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ id: `sent-${posted.length}` }));
    });
  });
  connectorUrl = await listen(connector);
  stack = await startAgentStack({
    BOT_APP_ID: APP_ID,
    BOT_OPENID_METADATA_URL: `${issuerUrl}/v1/.well-known/openidconfiguration`,
    BOT_CONNECTOR_STATIC_TOKEN: CONNECTOR_TOKEN,
  });
  api = new DurableApi(stack.devhost);
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  for (const server of [issuer, connector]) {
    server?.closeAllConnections();
    server?.close();
  }
});

beforeEach(() => {
  stack.model.reset();
  posted.length = 0;
});

async function token(options: { key?: CryptoKey; kid?: string; audience?: string; issuer?: string; serviceUrl?: string; expiresAt?: number } = {}): Promise<string> {
  return new SignJWT({ serviceurl: options.serviceUrl ?? connectorUrl })
    .setProtectedHeader({ alg: 'RS256', kid: options.kid ?? 'bf-key-1' })
    .setIssuer(options.issuer ?? ISSUER)
    .setAudience(options.audience ?? APP_ID)
    .setIssuedAt()
    .setExpirationTime(options.expiresAt ?? Math.floor(Date.now() / 1000) + 300)
    .sign(options.key ?? signingKey);
}

let activitySeq = 0;
function activity(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  activitySeq += 1;
  return {
    type: 'message',
    id: `act-${activitySeq}-${Date.now()}`,
    serviceUrl: connectorUrl,
    channelId: 'msteams',
    from: { id: '29:user-1', name: 'Ada' },
    recipient: { id: `28:${APP_ID}`, name: 'Pipeline Bot' },
    conversation: { id: 'a:conversation-1' },
    text: '<at>Pipeline Bot</at> What is the status of ticket 42?',
    channelData: { tenant: { id: CONTOSO_TEAMS_TENANT } },
    ...overrides,
  };
}

async function send(body: unknown, authorization?: string): Promise<Response> {
  return fetch(`${stack.devhost.url}/api/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json; charset=utf-8', ...(authorization ? { authorization } : {}) },
    body: JSON.stringify(body),
  });
}

const until = <T>(probe: () => T | undefined, timeoutMs = 20_000): Promise<T> => eventually('the bot to post', probe, { timeoutMs, intervalMs: 20 });

describe('POST /api/messages', () => {
  it.each([
    ['no token', async () => undefined],
    ['a token signed by another key', async () => `Bearer ${await token({ key: strangerKey })}`],
    ['a token for another bot', async () => `Bearer ${await token({ audience: 'someone-else' })}`],
    ['a token from another issuer', async () => `Bearer ${await token({ issuer: 'https://evil.example' })}`],
    ['an expired token', async () => `Bearer ${await token({ expiresAt: Math.floor(Date.now() / 1000) - 3_600 })}`],
    ['a token for another serviceUrl', async () => `Bearer ${await token({ serviceUrl: 'https://smba.trafficmanager.net/emea/' })}`],
    ['a malformed header', async () => 'Bearer not a token'],
    ['a token signed by a key endorsed for another channel', async () => `Bearer ${await token({ key: otherChannelKey, kid: 'bf-key-skype' })}`],
    ['a token signed by a key with no endorsements', async () => `Bearer ${await token({ key: unendorsedKey, kid: 'bf-key-bare' })}`],
  ])('answers 401 problem+json for %s and starts nothing', async (_label, header) => {
    const res = await send(activity(), await header());
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.headers.get('x-correlation-id')).toBeTruthy();
    await res.body?.cancel();
    expect(stack.model.stats().requestCount).toBe(0);
    expect(posted).toHaveLength(0);
  });

  it('answers 403 for a Teams tenant that is not ours', async () => {
    const res = await send(activity({ channelData: { tenant: { id: '99999999-9999-4999-8999-999999999999' } } }), `Bearer ${await token()}`);
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ code: 'teams_tenant_unknown', status: 403 });
  });

  it('answers 400 for a body that is not an activity', async () => {
    const res = await send({ hello: 'world' }, `Bearer ${await token()}`);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: 'validation_failed' });
  });

  it('acknowledges other activity types and starts nothing', async () => {
    const res = await send(activity({ type: 'conversationUpdate', text: undefined }), `Bearer ${await token()}`);
    expect(res.status).toBe(200);
    await res.body?.cancel();
    expect(stack.model.stats().requestCount).toBe(0);
  });

  it('acknowledges at once, shows typing, runs the agent and posts the answer to the conversation', async () => {
    stack.model.script([{ type: 'text', content: 'Ticket 42 is being worked on.' }]);
    const incoming = activity();
    const res = await send(incoming, `Bearer ${await token()}`);
    expect(res.status).toBe(202);
    const { id: runId } = (await res.json()) as { id: string };
    expect(runId).toMatch(/^contoso--/);

    const reply = await until(() => posted.find((p) => p.body.type === 'message'));
    const path = `/v3/conversations/${encodeURIComponent('a:conversation-1')}/activities/${String(incoming['id'])}`;
    expect(reply).toMatchObject({ path, authorization: `Bearer ${CONNECTOR_TOKEN}` });
    expect(reply.body).toMatchObject({
      text: 'Ticket 42 is being worked on.',
      replyToId: incoming['id'],
      conversation: { id: 'a:conversation-1' },
      recipient: { id: '29:user-1' },
    });
    // Typing came first, on the same thread.
    expect(posted[0]?.body.type).toBe('typing');
    expect(posted[0]?.path).toBe(path);
    // The user's text reached the model without the bot's @mention.
    expect(JSON.stringify(stack.model.requests()[0]?.body)).toContain('What is the status of ticket 42?');
    expect(JSON.stringify(stack.model.requests()[0]?.body)).not.toContain('<at>');

    const wrapper = await api.done(botConversationInstanceId(runId));
    expect(wrapper.output).toMatchObject({ runId, status: 'completed', delivered: true });

    // A redelivery of the same activity answers with the same run and starts nothing new.
    const again = await send(incoming, `Bearer ${await token()}`);
    expect(again.status).toBe(202);
    expect(((await again.json()) as { id: string }).id).toBe(runId);
    expect(stack.model.stats().requestCount).toBe(1);
    expect(posted.filter((p) => p.body.type === 'message')).toHaveLength(1);
  });
});
