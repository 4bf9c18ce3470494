import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createEntraTokenVerifier, remoteSigningKeys } from '../../shared/auth/entra-token-verifier.js';
import { LocalFileSecretProvider } from '../../shared/auth/local-file-secret-provider.js';
import { CachingSecretProvider, MemorySecretProvider } from '../../shared/auth/secret-provider.js';
import { TokenBucketRateLimiter } from '../../shared/http/rate-limiter.js';
import { issueDevToken, loadOrCreateDevSigningKey, startDevTokenIssuer } from '../../devhost/local-services/dev-token-issuer.js';
import { CONTOSO_TID, TestClock } from './front-door-kit.js';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'frontdoor-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('development token issuer', () => {
  it('shares one persisted key between the running issuer and the token CLI path', async () => {
    const keyFile = join(tempDir(), '.devhost', 'dev-issuer-key.json');
    const [a, b] = await Promise.all([loadOrCreateDevSigningKey(keyFile), loadOrCreateDevSigningKey(keyFile)]);
    expect(a.kid).toBe(b.kid);
    expect(statSync(keyFile).mode & 0o077).toBe(0);

    const issuer = await startDevTokenIssuer({ port: 0, keyFile });
    try {
      expect(issuer.currentKey().kid).toBe(a.kid);
      const config = (await (await fetch(`${issuer.url}/${CONTOSO_TID}/v2.0/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
      expect(config['issuer']).toBe(`${issuer.url}/${CONTOSO_TID}/v2.0`);
      expect(config['jwks_uri']).toBe(`${issuer.url}/${CONTOSO_TID}/discovery/v2.0/keys`);
      const jwks = (await (await fetch(issuer.jwksUrl)).json()) as { keys: Record<string, unknown>[] };
      expect(jwks.keys.map((k) => k['kid'])).toEqual([a.kid]);
      expect(jwks.keys[0]?.['d']).toBeUndefined();

      // A token made the way `npm run token` makes it verifies against the running issuer.
      const token = await issueDevToken(await loadOrCreateDevSigningKey(keyFile), {
        authority: issuer.url,
        entraTenantId: CONTOSO_TID,
        audience: 'api://x',
        roles: ['Runs.Write'],
      });
      const verifier = createEntraTokenVerifier({
        authority: issuer.url,
        audiences: ['api://x'],
        clockSkewMs: 60_000,
        keys: remoteSigningKeys(issuer.jwksUrl, { cacheMaxAgeMs: 600_000, cooldownMs: 30_000 }),
        now: () => Date.now(),
      });
      expect(await verifier.verify(token)).toMatchObject({ entraTenantId: CONTOSO_TID, kind: 'app', roles: ['Runs.Write'] });
    } finally {
      await issuer.stop();
    }
  });
});

describe('secrets providers', () => {
  it('generates a local secret on first use, keeps it, and never shares it between names', async () => {
    const file = join(tempDir(), '.devhost', 'secrets.json');
    const provider = new LocalFileSecretProvider(file);
    const first = await provider.getSecret('contoso-tickets-webhook');
    expect(first).toMatch(/^[0-9a-f]{64}$/);
    expect(await new LocalFileSecretProvider(file).getSecret('contoso-tickets-webhook')).toBe(first);
    expect(await provider.getSecret('fabrikam-reviews-webhook')).not.toBe(first);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ secrets: { 'contoso-tickets-webhook': first, 'fabrikam-reviews-webhook': expect.any(String) } });
  });

  it('caches secrets for the TTL and retries failed reads', async () => {
    const clock = new TestClock(0);
    const inner = new MemorySecretProvider({ a: 'one' });
    let reads = 0;
    let fail = true;
    const cached = new CachingSecretProvider(
      {
        getSecret: async (name) => {
          reads += 1;
          if (fail) {
            fail = false;
            throw new Error('vault unavailable');
          }
          return inner.getSecret(name);
        },
      },
      1000,
      clock.now,
    );
    await expect(cached.getSecret('a')).rejects.toThrow('vault unavailable');
    expect(await cached.getSecret('a')).toBe('one');
    inner.set('a', 'two');
    expect(await cached.getSecret('a')).toBe('one');
    clock.advance(1001);
    expect(await cached.getSecret('a')).toBe('two');
    expect(reads).toBe(3);
  });
});

describe('token bucket', () => {
  it('allows a burst of the per-minute budget, then refills continuously', () => {
    const clock = new TestClock(0);
    const limiter = new TokenBucketRateLimiter(clock.now);
    for (let i = 0; i < 60; i++) expect(limiter.take('t', 60).allowed).toBe(true);
    expect(limiter.take('t', 60)).toEqual({ allowed: false, retryAfterMs: 1000 });
    expect(limiter.take('other', 60).allowed).toBe(true);
    clock.advance(1000);
    expect(limiter.take('t', 60).allowed).toBe(true);
    expect(limiter.take('t', 60).allowed).toBe(false);
  });
});
