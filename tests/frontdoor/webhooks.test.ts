import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AgentRunInput } from '../../shared/agent-runtime/run-types.js';
import { runIdFor } from '../../shared/runs/admission.js';
import { createWebhookHandler } from '../../shared/webhooks/webhook-handler.js';
import { mapPayloadToInput } from '../../shared/webhooks/payload-mapping.js';
import { readWebhookClaims, signStandardWebhook, signWebhook, signatureMatches } from '../../shared/webhooks/webhook-signature.js';
import { startDevTokenIssuer, type DevTokenIssuer } from '../../devhost/local-services/dev-token-issuer.js';
import { CONTOSO_SECRET, answer, frontDoorFixture, invocation, request, type FrontDoorFixture } from './front-door-kit.js';

let issuer: DevTokenIssuer;
let fx: FrontDoorFixture;
let handler: ReturnType<typeof createWebhookHandler>;

beforeAll(async () => {
  issuer = await startDevTokenIssuer({ port: 0 });
});
afterAll(async () => {
  await issuer.stop();
});
beforeEach(() => {
  fx = frontDoorFixture(issuer);
  handler = createWebhookHandler(fx.deps, () => fx.client.asClient());
});

interface Delivery {
  tenantId?: string;
  source?: string;
  body?: string;
  secret?: string;
  timestamp?: number;
  deliveryId?: string | null;
  headers?: Record<string, string>;
  signature?: string | null;
  /** Default: the source's scheme (contoso and northwind: Standard Webhooks; fabrikam: legacy). */
  scheme?: 'standard' | 'legacy';
}

const ticket = { ticket: { id: 'T-1', subject: 'Export is empty', body: 'Since Monday' } };

async function deliver(d: Delivery = {}) {
  const tenantId = d.tenantId ?? 'contoso';
  const source = d.source ?? 'tickets';
  const body = d.body ?? JSON.stringify(ticket);
  const timestamp = String(d.timestamp ?? Math.floor(fx.clock.now() / 1000));
  const scheme = d.scheme ?? (tenantId === 'fabrikam' ? 'legacy' : 'standard');
  const deliveryId = d.deliveryId === null ? undefined : (d.deliveryId ?? 'delivery-1');
  const secret = d.secret ?? CONTOSO_SECRET;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (scheme === 'standard') {
    const signature = d.signature === undefined ? signStandardWebhook(secret, deliveryId ?? '', timestamp, body) : d.signature;
    Object.assign(
      headers,
      { 'webhook-timestamp': timestamp },
      signature === null ? {} : { 'webhook-signature': signature },
      deliveryId === undefined ? {} : { 'webhook-id': deliveryId },
    );
  } else {
    const signature = d.signature === undefined ? signWebhook(secret, timestamp, body) : d.signature;
    Object.assign(headers, { 'x-timestamp': timestamp }, signature === null ? {} : { 'x-signature': signature }, deliveryId === undefined ? {} : { 'x-delivery-id': deliveryId });
  }
  Object.assign(headers, d.headers);
  return answer(await handler(request({ method: 'POST', path: `/webhooks/${tenantId}/${source}`, params: { tenantId, source }, headers, body }), invocation(fx.logs)));
}

describe('webhooks: accepted deliveries', () => {
  it('starts a run from a well-signed delivery: 202 {id, statusUrl}, input mapped by the tenant config', async () => {
    const res = await deliver({ headers: { 'x-correlation-id': 'corr-wh-1' } });
    expect(res.status).toBe(202);
    const id = runIdFor('contoso', 'webhook', 'delivery-1', 'tickets');
    expect(res.body).toEqual({ id, statusUrl: `http://127.0.0.1:7071/api/tenants/contoso/runs/${id}` });
    expect(res.headers.get('location')).toBe(res.body['statusUrl']);
    expect(res.headers.get('x-correlation-id')).toBe('corr-wh-1');
    expect(fx.client.starts).toHaveLength(1);
    const input = fx.client.starts[0]?.input as AgentRunInput;
    expect(input.input).toEqual({ inline: 'Ticket T-1: Export is empty\nSince Monday' });
    expect(input).toMatchObject({
      tenantId: 'contoso',
      correlationId: 'corr-wh-1',
      initiator: { kind: 'webhook', id: 'tickets:delivery-1' },
      variables: { productName: 'Contoso Cloud' },
    });
    expect(input.agent.definition.id).toBe('support-triage');
  });

  it('answers a replayed delivery with the same run id and starts nothing new', async () => {
    const first = await deliver();
    fx.clock.advance(60_000);
    const replay = await deliver();
    expect(replay.status).toBe(202);
    expect(replay.body['id']).toBe(first.body['id']);
    expect(fx.client.starts).toHaveLength(1);
    const other = await deliver({ deliveryId: 'delivery-2' });
    expect(other.body['id']).not.toBe(first.body['id']);
    expect(fx.client.starts).toHaveLength(2);
  });

  it('accepts an uppercase hex legacy signature and a charset parameter', async () => {
    const body = JSON.stringify({ topic: 'Q3 review' });
    const ts = String(Math.floor(fx.clock.now() / 1000));
    const signature = `sha256=${signWebhook('fabrikam-secret', ts, body).slice('sha256='.length).toUpperCase()}`;
    expect(
      (await deliver({ tenantId: 'fabrikam', source: 'reviews', body, timestamp: Number(ts), signature, headers: { 'content-type': 'application/json; charset=utf-8' } })).status,
    ).toBe(202);
  });

  it('accepts any matching signature of a Standard Webhooks list (secret rotation)', async () => {
    const ts = String(Math.floor(fx.clock.now() / 1000));
    const body = JSON.stringify(ticket);
    const both = `v1,${Buffer.alloc(32).toString('base64')} ${signStandardWebhook(CONTOSO_SECRET, 'delivery-9', ts, body)}`;
    expect((await deliver({ deliveryId: 'delivery-9', body, timestamp: Number(ts), signature: both })).status).toBe(202);
  });
});

describe('webhooks: rejected deliveries', () => {
  it('answers 401 for a bad signature, a missing one, or one made with another secret', async () => {
    const bad = await deliver({ signature: `v1,${Buffer.alloc(32).toString('base64')}` });
    expect(bad.status).toBe(401);
    expect(bad.body['code']).toBe('webhook_signature_invalid');
    expect((await deliver({ signature: 'v1,abc' })).body['code']).toBe('webhook_signature_invalid');
    // A legacy-signed delivery to a Standard Webhooks source does not verify either.
    expect((await deliver({ scheme: 'legacy' })).body['code']).toBe('webhook_signature_invalid');
    expect((await deliver({ secret: 'fabrikam-secret' })).status).toBe(401);
    const missing = await deliver({ signature: null });
    expect(missing.status).toBe(401);
    expect(missing.body['code']).toBe('webhook_signature_missing');
    expect(fx.client.starts).toHaveLength(0);
  });

  it('answers 401 when the body or the delivery id was changed after signing', async () => {
    const ts = Math.floor(fx.clock.now() / 1000);
    const signature = signStandardWebhook(CONTOSO_SECRET, 'delivery-1', String(ts), JSON.stringify(ticket));
    expect((await deliver({ timestamp: ts, signature, body: JSON.stringify({ ...ticket, extra: true }) })).status).toBe(401);
    // The delivery id is signed: a captured request replayed under a new id does not verify.
    expect((await deliver({ timestamp: ts, signature, deliveryId: 'delivery-2' })).status).toBe(401);
    expect(fx.client.starts).toHaveLength(0);
  });

  it('legacy scheme: refuses a captured request replayed under a new x-delivery-id (409), keeps redeliveries idempotent', async () => {
    const body = JSON.stringify({ topic: 'Q3 review' });
    const ts = Math.floor(fx.clock.now() / 1000);
    const first = await deliver({ tenantId: 'fabrikam', source: 'reviews', secret: 'fabrikam-secret', body, timestamp: ts, deliveryId: 'r-1' });
    expect(first.status).toBe(202);
    const again = await deliver({ tenantId: 'fabrikam', source: 'reviews', secret: 'fabrikam-secret', body, timestamp: ts, deliveryId: 'r-1' });
    expect(again.status).toBe(202);
    expect(again.body['id']).toBe(first.body['id']);
    const replay = await deliver({ tenantId: 'fabrikam', source: 'reviews', secret: 'fabrikam-secret', body, timestamp: ts, deliveryId: 'r-2' });
    expect(replay.status).toBe(409);
    expect(replay.body['code']).toBe('webhook_replayed');
    expect(fx.client.starts).toHaveLength(1);
  });

  it('answers 401 for a stale, future or malformed timestamp, even when correctly signed', async () => {
    const now = Math.floor(fx.clock.now() / 1000);
    const stale = await deliver({ timestamp: now - 301 });
    expect(stale.status).toBe(401);
    expect(stale.body['code']).toBe('webhook_timestamp_invalid');
    expect((await deliver({ timestamp: now + 301 })).status).toBe(401);
    expect((await deliver({ timestamp: now - 299 })).status).toBe(202);
    const body = JSON.stringify(ticket);
    const res = await handler(
      request({
        method: 'POST',
        path: '/webhooks/contoso/tickets',
        params: { tenantId: 'contoso', source: 'tickets' },
        body,
        headers: {
          'content-type': 'application/json',
          'webhook-timestamp': 'yesterday',
          'webhook-signature': signStandardWebhook(CONTOSO_SECRET, 'd', 'yesterday', body),
          'webhook-id': 'd',
        },
      }),
      invocation(),
    );
    expect(answer(res).body['code']).toBe('webhook_timestamp_invalid');
  });

  it('answers 413 for a body over 256 KB and 415 for another media type', async () => {
    const big = JSON.stringify({ ticket: { id: 'T', subject: 's', body: 'x'.repeat(256 * 1024) } });
    const tooLarge = await deliver({ body: big });
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.body).toMatchObject({ code: 'body_too_large', limitBytes: 262144 });
    const wrongType = await deliver({ headers: { 'content-type': 'text/plain' } });
    expect(wrongType.status).toBe(415);
    expect(wrongType.body['code']).toBe('unsupported_media_type');
    expect(fx.client.starts).toHaveLength(0);
  });

  it('gives no oracle: an unknown tenant, an unknown or disabled source and a bad signature get the same 401', async () => {
    const strip = (r: { status: number; body: Record<string, unknown> }) => ({ status: r.status, code: r.body['code'], detail: r.body['detail'], title: r.body['title'] });
    const wrong = strip(await deliver({ secret: 'not-the-secret' }));
    expect(wrong).toMatchObject({ status: 401, code: 'webhook_signature_invalid' });
    for (const d of [{ tenantId: 'globex' }, { source: 'nope' }, { source: 'disabled' }, { source: 'constructor' }, { tenantId: 'Not A Tenant!' }]) {
      expect(strip(await deliver(d)), JSON.stringify(d)).toEqual(wrong);
    }
    // Unsigned: the same answer for a real and a made-up tenant.
    const unsignedReal = strip(await deliver({ signature: null }));
    expect(unsignedReal).toMatchObject({ status: 401, code: 'webhook_signature_missing' });
    expect(strip(await deliver({ tenantId: 'globex', signature: null }))).toEqual(unsignedReal);
    expect(fx.client.starts).toHaveLength(0);
  });

  it('answers 403 for a suspended tenant only once the delivery is correctly signed', async () => {
    const suspended = await deliver({ tenantId: 'northwind', secret: 'northwind-secret' });
    expect(suspended.status).toBe(403);
    expect(suspended.body['code']).toBe('tenant_suspended');
    expect((await deliver({ tenantId: 'northwind', secret: 'wrong' })).body['code']).toBe('webhook_signature_invalid');
  });

  it('answers 400 json_too_deep for deeply nested JSON (not a 500)', async () => {
    const res = await deliver({ body: `{"ticket":${'['.repeat(100_000)}${']'.repeat(100_000)}}` });
    expect(res.status).toBe(400);
    expect(res.body['code']).toBe('json_too_deep');
    expect(fx.client.starts).toHaveLength(0);
  });

  it('answers 400 without a delivery id, for invalid JSON, and lists the values the mapping misses', async () => {
    expect((await deliver({ deliveryId: null })).status).toBe(400);
    expect((await deliver({ body: '{not json' })).status).toBe(400);
    const missing = await deliver({ body: JSON.stringify({ ticket: { body: 'no id, no subject' } }) });
    expect(missing.status).toBe(400);
    expect(missing.body['errors']).toEqual(["/ticket/id: required by the source's input mapping", "/ticket/subject: required by the source's input mapping"]);
    expect(fx.client.starts).toHaveLength(0);
  });

  it('answers 429 with Retry-After past the tenant’s budget (fabrikam: 2 per minute)', async () => {
    const send = (n: number) =>
      deliver({ tenantId: 'fabrikam', source: 'reviews', secret: 'fabrikam-secret', deliveryId: `d-${n}`, body: JSON.stringify({ topic: 'Q3 review', n }) });
    expect((await send(1)).status).toBe(202);
    expect((await send(2)).status).toBe(202);
    const limited = await send(3);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(fx.client.starts).toHaveLength(2);
    expect((fx.client.starts[0]?.input as AgentRunInput).input).toEqual({ inline: '{"task":"Q3 review"}' });
  });

  it('answers a generic 500 when the source’s secret is missing from the secrets provider', async () => {
    handler = createWebhookHandler({ ...fx.deps, secrets: { getSecret: async () => undefined } }, () => fx.client.asClient());
    const res = await deliver();
    expect(res.status).toBe(500);
    expect(JSON.stringify(res.body)).not.toContain('contoso-tickets');
    expect(fx.logs.join('\n')).toContain('contoso-tickets');
  });
});

describe('webhook signature and payload mapping (unit)', () => {
  it('legacy: signs timestamp.body with HMAC-SHA256 hex (known vector)', () => {
    // echo -n '1700000000.{"a":1}' | openssl dgst -sha256 -hmac secret
    expect(signWebhook('secret', '1700000000', '{"a":1}')).toBe('sha256=49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686');
    const headers = new Headers({ 'x-signature': signWebhook('secret', '1700000000', '{"a":1}'), 'x-timestamp': '1700000000', 'x-delivery-id': 'd' });
    expect(signatureMatches(readWebhookClaims(headers, 1_700_000_000_000), 'secret', Buffer.from('{"a":1}'))).toBe(true);
  });

  it("Standard Webhooks: the specification's test vector (whsec_ secret, id.timestamp.body, base64)", () => {
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const body = '{"test": 2432232314}';
    expect(signStandardWebhook(secret, 'msg_p5jXN8AQM9LWM0D4loKWxJek', '1614265330', body)).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
    const headers = new Headers({
      'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek',
      'webhook-timestamp': '1614265330',
      'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    });
    expect(signatureMatches(readWebhookClaims(headers, 1_614_265_330_000), secret, Buffer.from(body))).toBe(true);
  });

  it('maps by pointer, template and fields, with escapes, arrays and optional values', () => {
    const payload = { 'a/b': { '~x': [10, { y: 'z' }] }, n: 5 };
    expect(mapPayloadToInput({ pointer: '' }, payload)).toEqual(payload);
    expect(mapPayloadToInput({ pointer: '/a~1b/~0x/1' }, payload)).toEqual({ y: 'z' });
    expect(mapPayloadToInput({ template: 'n={{/n}} obj={{/a~1b/~0x/1}} opt=[{{/missing?}}]' }, payload)).toBe('n=5 obj={"y":"z"} opt=[]');
    expect(mapPayloadToInput({ fields: { first: '/a~1b/~0x/0', gone: '/nope?' } }, payload)).toEqual({ first: 10 });
    expect(() => mapPayloadToInput({ pointer: '/a~1b/~0x/7' }, payload)).toThrow(/lacks values/);
  });
});
