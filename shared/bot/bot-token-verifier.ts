import { createRemoteJWKSet, jwtVerify, type JWTPayload, type ProtectedHeaderParameters } from 'jose';
import { z } from 'zod';
import { isKeySourceFailure, ServiceUnavailableError, UnauthorizedError } from '../http/http-errors.js';

/**
 * Validates the JWT the Bot Framework channel service sends with each activity (Bot Framework
 * "authentication: connector to bot"): RS256 signature with keys from the OpenID metadata's
 * `jwks_uri` (cached by jose, refetched on an unknown `kid`), issuer `https://api.botframework.com`,
 * audience = the bot's app id, `exp`/`nbf` with the 5-minute skew Bot Framework allows, and the
 * `serviceUrl` claim equal to the activity's `serviceUrl` — which is what makes that URL safe to
 * send our connector token to — and the signing key's `endorsements` (the channels that key may
 * speak for), which the caller checks against the activity's `channelId`. The metadata URL is
 * configuration, so tests use a loopback issuer through the same code.
 */
export interface BotTokenVerifier {
  /** The verified claims, or 401 {@link UnauthorizedError}. */
  verify(authorizationHeader: string | null): Promise<BotTokenClaims>;
}

export interface BotTokenClaims {
  /** The `serviceUrl` claim; the caller compares it to the activity's. */
  serviceUrl: string | undefined;
  appId: string;
  /** The channels the signing key is endorsed for (its JWK `endorsements`); undefined: none listed. */
  endorsements: readonly string[] | undefined;
}

export interface BotTokenVerifierOptions {
  openIdMetadataUrl: string;
  issuer: string;
  appId: string;
  clockSkewMs: number;
  now: () => number;
  fetch?: typeof globalThis.fetch;
  timeoutMs?: number;
}

const challenge = { 'www-authenticate': 'Bearer realm="bot"' };

function unauthorized(code: string, message: string): UnauthorizedError {
  return new UnauthorizedError(code, message, challenge);
}

const MetadataSchema = z.object({ jwks_uri: z.url() });

/** The Bot Framework metadata or keys cannot be fetched: 503, not the channel's fault. */
function keysUnavailable(cause: unknown): ServiceUnavailableError {
  return new ServiceUnavailableError('bot_keys_unavailable', 'The Bot Framework signing keys cannot be fetched right now; retry shortly.', 5, cause);
}

/** Normalises a service URL for comparison (Bot Framework sends it with or without a trailing slash). */
export function normalizeServiceUrl(url: string): string {
  return url.trim().replace(/\/+$/, '').toLowerCase();
}

export function createBotTokenVerifier(options: BotTokenVerifierOptions): BotTokenVerifier {
  const fetchImpl = options.fetch ?? globalThis.fetch;
  let keys: Promise<ReturnType<typeof createRemoteJWKSet>> | undefined;
  const loadKeys = (): Promise<ReturnType<typeof createRemoteJWKSet>> => {
    // One metadata read per process; a failed read is forgotten so the next request retries.
    keys ??= (async () => {
      const res = await fetchImpl(options.openIdMetadataUrl, { signal: AbortSignal.timeout(options.timeoutMs ?? 5_000) });
      if (!res.ok) throw new Error(`Bot Framework OpenID metadata answered ${res.status}`);
      const metadata = MetadataSchema.parse(await res.json());
      return createRemoteJWKSet(new URL(metadata.jwks_uri), { timeoutDuration: options.timeoutMs ?? 5_000 });
    })();
    keys.catch(() => (keys = undefined));
    return keys;
  };

  return {
    async verify(authorizationHeader) {
      const match = authorizationHeader ? /^Bearer[ ]+([A-Za-z0-9\-_.~+/]+=*)$/i.exec(authorizationHeader.trim()) : null;
      if (!match?.[1]) throw unauthorized('token_missing', 'Send the Bot Framework token as "Authorization: Bearer <token>".');
      let payload: JWTPayload;
      let protectedHeader: ProtectedHeaderParameters;
      let jwks: Awaited<ReturnType<typeof loadKeys>>;
      try {
        jwks = await loadKeys();
      } catch (error) {
        throw keysUnavailable(error);
      }
      try {
        ({ payload, protectedHeader } = await jwtVerify(match[1], jwks, {
          issuer: options.issuer,
          audience: options.appId,
          algorithms: ['RS256'],
          clockTolerance: Math.ceil(options.clockSkewMs / 1000),
          currentDate: new Date(options.now()),
          requiredClaims: ['exp'],
        }));
      } catch (error) {
        if (isKeySourceFailure(error)) throw keysUnavailable(error);
        const code = (error as { code?: unknown }).code;
        // Errors from jose are the caller's bad token; anything else is ours.
        if (typeof code === 'string' && code.startsWith('ERR_J')) {
          throw unauthorized(code === 'ERR_JWT_EXPIRED' ? 'token_expired' : 'token_invalid', 'The Bot Framework token is not valid for this bot.');
        }
        throw error;
      }
      const serviceUrl = typeof payload['serviceurl'] === 'string' ? payload['serviceurl'] : typeof payload['serviceUrl'] === 'string' ? payload['serviceUrl'] : undefined;
      // The key that verified the token is in the set jose holds now (it refetches on an unknown kid).
      const jwk = jwks.jwks()?.keys.find((k) => k.kid === protectedHeader.kid) as { endorsements?: unknown } | undefined;
      const endorsements = Array.isArray(jwk?.endorsements) ? jwk.endorsements.filter((e): e is string => typeof e === 'string') : undefined;
      return { serviceUrl, appId: options.appId, endorsements };
    },
  };
}
