import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { sendJson } from '../host/http-response.js';
import { isOwnHost, ownAuthorities } from '../host/request-origin.js';
import { SignJWT, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';

/**
 * A development OpenID issuer that looks like Entra ID (v2) to the app: it serves
 * `/{tid}/v2.0/.well-known/openid-configuration` and the JWKS at `/common/discovery/v2.0/keys`
 * on loopback, and signs access tokens with issuer `${url}/${tid}/v2.0`. The app reaches it
 * only through its settings (`AUTH_AUTHORITY`, optional `AUTH_JWKS_URL`), exactly as it reaches
 * login.microsoftonline.com in Azure, so the real token validation runs locally.
 *
 * The signing key is generated on first use and kept in a git-ignored file (default
 * `.devhost/dev-issuer-key.json`), so `npm run token` (a separate process) and the running
 * devhost sign and verify with the same key. Development only: never deployed.
 */

export const DEV_ISSUER_DEFAULT_PORT = 7073;
/** The fixed object id of the development user that delegated tokens act for. */
export const DEV_USER_OBJECT_ID = 'dddddddd-0000-4000-8000-000000000001';
/** The fixed client (app) id of the development client application. */
export const DEV_CLIENT_APP_ID = 'cccccccc-0000-4000-8000-000000000001';

export interface DevSigningKey {
  kid: string;
  privateKey: CryptoKey;
  /** Public part only, as published in the JWKS. */
  publicJwk: JWK;
}

/** The key file beside the devhost's other local state. */
export function defaultDevIssuerKeyFile(repoRoot: string): string {
  return join(repoRoot, '.devhost', 'dev-issuer-key.json');
}

/** A new RS256 signing key (Entra signs access tokens with RS256). */
export async function generateDevSigningKey(): Promise<DevSigningKey & { privateJwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = randomUUID();
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  return { kid, privateKey, publicJwk, privateJwk };
}

async function fromPrivateJwk(privateJwk: JWK): Promise<DevSigningKey> {
  const { kty, n, e, d, kid } = privateJwk;
  if (kty !== 'RSA' || typeof kid !== 'string' || typeof n !== 'string' || typeof e !== 'string' || typeof d !== 'string') {
    throw new Error('dev issuer key file does not hold an RSA private JWK with a kid');
  }
  const privateKey = (await importJWK(privateJwk, 'RS256')) as CryptoKey;
  return { kid, privateKey, publicJwk: { kty, n, e, kid, alg: 'RS256', use: 'sig' } };
}

/**
 * The signing key in `file`, created on first use. Creation uses an exclusive open, so when
 * the devhost and `npm run token` start together exactly one key wins and both use it.
 */
export async function loadOrCreateDevSigningKey(file: string): Promise<DevSigningKey> {
  try {
    return await fromPrivateJwk(JSON.parse(readFileSync(file, 'utf8')) as JWK);
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'ENOENT') throw error;
  }
  const created = await generateDevSigningKey();
  mkdirSync(dirname(file), { recursive: true });
  try {
    writeFileSync(file, `${JSON.stringify(created.privateJwk, null, 2)}\n`, { flag: 'wx', mode: 0o600 });
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'EEXIST') throw error;
    return fromPrivateJwk(JSON.parse(readFileSync(file, 'utf8')) as JWK);
  }
  return created;
}

export interface DevTokenRequest {
  /** The issuer's base URL (what the app has as AUTH_AUTHORITY), no trailing slash. */
  authority: string;
  /** Entra directory id (`tid`), a GUID. */
  entraTenantId: string;
  audience: string;
  /** App roles (`roles`): an app-only token unless scopes are given. */
  roles?: readonly string[];
  /** Delegated scopes (`scp`): makes a delegated (user) token. */
  scopes?: readonly string[];
  /** `oid`; default: the development user (delegated) or the client's service principal (app-only). */
  objectId?: string;
  /** `azp`; default {@link DEV_CLIENT_APP_ID}. */
  clientAppId?: string;
  /** Lifetime; default one hour. Negative values make expired tokens (tests). */
  expiresInSeconds?: number;
  /** Issue time; default now. */
  nowMs?: number;
  /** Overrides or additions (tests: wrong issuer, missing claims...). */
  claims?: Record<string, unknown>;
}

/** A signed v2 access token shaped like Entra's. */
export async function issueDevToken(key: DevSigningKey, request: DevTokenRequest): Promise<string> {
  const iat = Math.floor((request.nowMs ?? Date.now()) / 1000);
  const delegated = (request.scopes?.length ?? 0) > 0;
  const clientAppId = request.clientAppId ?? DEV_CLIENT_APP_ID;
  const oid = request.objectId ?? (delegated ? DEV_USER_OBJECT_ID : clientAppId);
  const claims: Record<string, unknown> = {
    iss: `${request.authority.replace(/\/+$/, '')}/${request.entraTenantId}/v2.0`,
    aud: request.audience,
    tid: request.entraTenantId,
    oid,
    sub: oid,
    azp: clientAppId,
    azpacr: '1',
    ver: '2.0',
    idtyp: delegated ? 'user' : 'app',
    iat,
    nbf: iat,
    exp: iat + (request.expiresInSeconds ?? 3600),
    ...(request.roles?.length ? { roles: [...request.roles] } : {}),
    ...(delegated ? { scp: request.scopes?.join(' ') } : {}),
    ...request.claims,
  };
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: key.kid }).sign(key.privateKey);
}

export interface DevTokenIssuer {
  /** `http://127.0.0.1:<port>`: set it as the app's AUTH_AUTHORITY. */
  url: string;
  jwksUrl: string;
  /** The key tokens are signed with now. */
  currentKey(): DevSigningKey;
  /**
   * Starts signing with a new key (in memory only). The JWKS publishes the new key first and,
   * unless `retire` is set, still publishes the old ones, as Entra does during rollover.
   */
  rotateKey(options?: { retire?: boolean }): Promise<DevSigningKey>;
  /** Signs a token with the current key and this issuer's URL. */
  issue(request: Omit<DevTokenRequest, 'authority'>): Promise<string>;
  /** JWKS requests served so far (tests check caching). */
  jwksRequests(): number;
  stop(): Promise<void>;
}

export interface DevTokenIssuerOptions {
  /** Default {@link DEV_ISSUER_DEFAULT_PORT}; 0 picks a free port. */
  port?: number;
  /** Persisted key (shared with `npm run token`); omitted: a fresh in-memory key (tests). */
  keyFile?: string;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  sendJson(res, status, body, { 'cache-control': 'no-store' });
}

/** Starts the development issuer on 127.0.0.1 (never on other interfaces). */
export async function startDevTokenIssuer(options: DevTokenIssuerOptions = {}): Promise<DevTokenIssuer> {
  let current: DevSigningKey = options.keyFile ? await loadOrCreateDevSigningKey(options.keyFile) : await generateDevSigningKey();
  let published: JWK[] = [current.publicJwk];
  let jwksCount = 0;
  let url = '';
  let own: ReadonlySet<string> = new Set();

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    // Only requests addressed to this loopback service (no DNS-rebinding page through a browser).
    if (!isOwnHost(req, own)) return send(res, 421, { error: 'misdirected_request' });
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    if (req.method !== 'GET') return send(res, 405, { error: 'method_not_allowed' });
    if (/^\/[^/]+\/discovery\/(v2\.0\/)?keys$/.test(path)) {
      jwksCount += 1;
      return send(res, 200, { keys: published });
    }
    const config = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/.exec(path);
    if (config?.[1]) {
      const tenant = config[1] === 'common' || config[1] === 'organizations' ? '{tenantid}' : config[1];
      return send(res, 200, {
        issuer: `${url}/${tenant}/v2.0`,
        jwks_uri: `${url}/${config[1]}/discovery/v2.0/keys`,
        token_endpoint: `${url}/${config[1]}/oauth2/v2.0/token`,
        authorization_endpoint: `${url}/${config[1]}/oauth2/v2.0/authorize`,
        response_types_supported: ['code', 'id_token', 'token'],
        subject_types_supported: ['pairwise'],
        id_token_signing_alg_values_supported: ['RS256'],
        token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
        claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'nbf', 'tid', 'oid', 'azp', 'roles', 'scp', 'ver', 'idtyp'],
        // Not Entra: tells a reader this is the local development issuer.
        x_development_issuer: true,
      });
    }
    return send(res, 404, { error: 'not_found' });
  };

  const server = createServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? DEV_ISSUER_DEFAULT_PORT, '127.0.0.1', () => resolve());
  });
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  own = ownAuthorities((server.address() as AddressInfo).port);

  return {
    url,
    jwksUrl: `${url}/common/discovery/v2.0/keys`,
    currentKey: () => current,
    async rotateKey(rotate = {}) {
      const next = await generateDevSigningKey();
      current = next;
      published = rotate.retire ? [next.publicJwk] : [next.publicJwk, ...published];
      return next;
    },
    issue: (request) => issueDevToken(current, { ...request, authority: url }),
    jwksRequests: () => jwksCount,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
