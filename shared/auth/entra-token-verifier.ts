import { createRemoteJWKSet, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { ServiceUnavailableError, UnauthorizedError, bearerChallenge, isKeySourceFailure } from '../http/http-errors.js';
import type { Principal } from './principal.js';

/**
 * Validates Entra ID (v2) access tokens for the runs API with `jose`: signature against the
 * authority's JWKS (cached, refetched on an unknown `kid`, so key rotation needs no restart),
 * audience, `exp`/`nbf` with a small clock skew, and an issuer that must be
 * `${authority}/${tid}/v2.0` for the token's own `tid` (the multi-tenant rule: the issuer is
 * bound to the directory the token claims). Which directories may act for which of our tenants
 * is decided afterwards, in {@link requireTenantMatch}. There is no switch that skips any of it:
 * locally the same code runs against the devhost's development issuer.
 */
export interface AccessTokenVerifier {
  /** The caller, or a 401 {@link UnauthorizedError} with a `WWW-Authenticate` challenge. */
  verify(token: string): Promise<Principal>;
}

export interface EntraTokenVerifierOptions {
  /** `https://login.microsoftonline.com` in Azure; the dev issuer's loopback URL locally. No trailing slash. */
  authority: string;
  /** Accepted `aud` values: the API's app id URI and/or client id. */
  audiences: readonly string[];
  clockSkewMs: number;
  /** Signing keys, usually {@link remoteSigningKeys}. */
  keys: JWTVerifyGetKey;
  now: () => number;
}

/** The v2 issuer Entra ID uses for directory `tid`. */
export function issuerFor(authority: string, tid: string): string {
  return `${authority.replace(/\/+$/, '')}/${tid}/v2.0`;
}

/**
 * The authority's signing keys from its JWKS endpoint. jose caches them for `cacheMaxAgeMs` and
 * refetches when a token names a key it does not know (at most once per `cooldownMs`), which
 * is how Entra key rollover is picked up.
 */
export function remoteSigningKeys(jwksUrl: string, options: { cacheMaxAgeMs: number; cooldownMs: number; timeoutMs?: number }): JWTVerifyGetKey {
  return createRemoteJWKSet(new URL(jwksUrl), {
    cacheMaxAge: options.cacheMaxAgeMs,
    cooldownDuration: options.cooldownMs,
    timeoutDuration: options.timeoutMs ?? 5_000,
  });
}

/** The bearer token of a request, or 401 `token_missing` (challenge without an error code, per RFC 6750). */
export function bearerTokenFrom(headers: Headers): string {
  const header = headers.get('authorization');
  const match = header ? /^Bearer[ ]+([A-Za-z0-9\-_.~+/]+=*)$/i.exec(header.trim()) : null;
  if (!match?.[1]) {
    throw header
      ? new UnauthorizedError('token_invalid', 'The Authorization header must be "Bearer <token>".', { 'www-authenticate': bearerChallenge('invalid_request') })
      : new UnauthorizedError('token_missing', 'Send an Entra ID access token as "Authorization: Bearer <token>".', { 'www-authenticate': bearerChallenge() });
  }
  return match[1];
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function invalid(code: string, message: string): UnauthorizedError {
  return new UnauthorizedError(code, message, { 'www-authenticate': bearerChallenge('invalid_token', message) });
}

/** Maps jose's error codes to our stable codes; keys that cannot be fetched are a 503; anything else is ours (500). */
function fromJoseError(error: unknown): unknown {
  const e = error as { code?: unknown; claim?: unknown };
  switch (e?.code) {
    case 'ERR_JWT_EXPIRED':
      return invalid('token_expired', 'The token has expired.');
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (e.claim === 'aud') return invalid('token_audience_invalid', 'The token is not for this API (audience).');
      if (e.claim === 'nbf') return invalid('token_not_yet_valid', 'The token is not valid yet.');
      return invalid('token_invalid', `The token's "${String(e.claim)}" claim is missing or invalid.`);
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return invalid('token_signature_invalid', 'The token signature does not verify with the issuer keys.');
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return invalid('token_invalid', 'The token is malformed or uses an unsupported algorithm.');
    default:
      if (isKeySourceFailure(error)) {
        return new ServiceUnavailableError('identity_keys_unavailable', "The identity provider's signing keys cannot be fetched right now; retry shortly.", 5, error);
      }
      return error;
  }
}

function stringClaim(payload: JWTPayload, name: string): string | undefined {
  const value = payload[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function principalOf(payload: JWTPayload, tid: string): Principal {
  const roles = Array.isArray(payload['roles']) ? payload['roles'].filter((r): r is string => typeof r === 'string') : [];
  const scp = stringClaim(payload, 'scp');
  const scopes = scp ? scp.split(' ').filter(Boolean) : [];
  const idtyp = stringClaim(payload, 'idtyp');
  // `idtyp` is an optional claim; without it, a token with scopes is delegated, one without is app-only.
  const kind = idtyp === 'app' ? 'app' : idtyp === 'user' || scopes.length > 0 ? 'delegated' : 'app';
  return {
    entraTenantId: tid,
    kind,
    objectId: stringClaim(payload, 'oid'),
    clientAppId: stringClaim(payload, 'azp') ?? stringClaim(payload, 'appid'),
    subject: stringClaim(payload, 'sub') ?? '',
    roles,
    scopes,
  };
}

export function createEntraTokenVerifier(options: EntraTokenVerifierOptions): AccessTokenVerifier {
  const skewSeconds = Math.ceil(options.clockSkewMs / 1000);
  return {
    async verify(token: string): Promise<Principal> {
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, options.keys, {
          audience: [...options.audiences],
          // Entra signs access tokens with RS256; refusing others blocks algorithm confusion.
          algorithms: ['RS256'],
          clockTolerance: skewSeconds,
          currentDate: new Date(options.now()),
          requiredClaims: ['iss', 'exp', 'tid', 'sub'],
        }));
      } catch (error) {
        throw fromJoseError(error);
      }
      const tid = stringClaim(payload, 'tid')?.toLowerCase();
      if (!tid || !GUID.test(tid)) throw invalid('token_invalid', 'The token has no valid "tid" claim.');
      if (payload.iss !== issuerFor(options.authority, tid)) {
        throw invalid('token_issuer_invalid', 'The token was not issued by an accepted authority for its directory.');
      }
      return principalOf(payload, tid);
    },
  };
}
