import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { issueDevToken, loadOrCreateDevSigningKey } from '../../devhost/local-services/dev-token-issuer.js';
import { createEntraTokenVerifier, remoteSigningKeys } from '../../shared/auth/entra-token-verifier.js';
import { createBotTokenVerifier } from '../../shared/bot/bot-token-verifier.js';
import { errorToProblem } from '../../shared/http/problem.js';
import { rejection } from '../helpers/rejection.js';

/**
 * When the identity provider's signing keys cannot be fetched, a request is answered 503 with
 * Retry-After (an outage on our side, worth retrying), never 401 (blaming the caller's token) or
 * a bare 500.
 */

const dir = mkdtempSync(join(tmpdir(), 'key-outage-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A loopback URL nothing listens on. */
async function deadUrl(path: string): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}${path}`;
}

type ErrorFields = { name?: string; code?: string; status?: number; retryable?: boolean };
const caught = async (promise: Promise<unknown>): Promise<ErrorFields> => (await rejection(promise)) as ErrorFields;

describe('signing keys out of reach', () => {
  it('Entra tokens: 503 identity_keys_unavailable with Retry-After in the problem answer', async () => {
    const authority = 'https://login.example.test';
    const tid = '11111111-1111-4111-8111-111111111111';
    const token = await issueDevToken(await loadOrCreateDevSigningKey(join(dir, 'key.json')), { authority, entraTenantId: tid, audience: 'api://x', roles: ['Runs.Read'] });
    const verifier = createEntraTokenVerifier({
      authority,
      audiences: ['api://x'],
      clockSkewMs: 60_000,
      keys: remoteSigningKeys(await deadUrl('/keys'), { cacheMaxAgeMs: 600_000, cooldownMs: 30_000 }),
      now: () => Date.now(),
    });
    const error = await caught(verifier.verify(token));
    expect(error).toMatchObject({ name: 'ServiceUnavailableError', code: 'identity_keys_unavailable', status: 503, retryable: true });

    const reported: unknown[] = [];
    const answer = errorToProblem(error, { correlationId: 'corr-1' }, (e) => reported.push(e));
    expect(answer.status).toBe(503);
    expect(answer.headers).toMatchObject({ 'content-type': 'application/problem+json', 'retry-after': '5', 'x-correlation-id': 'corr-1' });
    expect(JSON.parse(String(answer.body))).toMatchObject({ status: 503, code: 'identity_keys_unavailable' });
    expect(reported).toHaveLength(1); // an outage is still reported to telemetry
  });

  it('Bot Framework tokens: 503 bot_keys_unavailable when the OpenID metadata cannot be read', async () => {
    const verifier = createBotTokenVerifier({
      openIdMetadataUrl: await deadUrl('/v1/.well-known/openidconfiguration'),
      issuer: 'https://api.botframework.com',
      appId: 'bot-app',
      clockSkewMs: 300_000,
      now: () => Date.now(),
      timeoutMs: 2_000,
    });
    const error = await caught(verifier.verify('Bearer aaa.bbb.ccc'));
    expect(error).toMatchObject({ name: 'ServiceUnavailableError', code: 'bot_keys_unavailable', status: 503 });
  });

  it('any other failure stays a bare 500 with no detail', () => {
    const answer = errorToProblem(new Error('boom'), { correlationId: 'corr-2' }, () => undefined);
    expect(answer.status).toBe(500);
    expect(JSON.parse(String(answer.body))).toMatchObject({ code: 'internal_error' });
  });
});
