import { lookup } from 'node:dns/promises';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { addressRefusal, findEgressEntry, normalizeHost, type EgressMode } from './egress-policy.js';
import { ToolError } from './tool.js';

/**
 * Egress-pinned HTTP for tools: the URL is checked against the run's allow-list, its host is
 * resolved exactly once, every address is checked (egress-policy.ts), and the connection goes to
 * the address that was checked. Node connects to an IP host without any lookup, so a DNS answer
 * that changes between the check and the connection (DNS rebinding) cannot move it.
 */

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Every address a host name resolves to. Injectable so tests never use real DNS. */
export type HostResolver = (hostname: string) => Promise<readonly ResolvedAddress[]>;

/** The system resolver (`getaddrinfo`, as `fetch` and `http.request` use), every address, in its order. */
export const systemResolver: HostResolver = async (hostname) => {
  const found = await lookup(hostname, { all: true, order: 'verbatim' });
  return found.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

/** How a run reaches the network: the environment's rules and the resolver. */
export interface EgressOptions extends EgressMode {
  resolve: HostResolver;
}

/** A checked destination: connect to `address`, speak to `host`. */
export interface EgressTarget {
  url: URL;
  /** The URL's host name, normalised (lower case, no trailing dot); brackets kept for IPv6. */
  host: string;
  port: number;
  address: string;
  family: 4 | 6;
}

const deny = (message: string): ToolError => new ToolError('egress_denied', message);

function bare(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/**
 * Checks `url` against `allowList` (the run's effective list) and resolves it once. Refusals are
 * `ToolError('egress_denied')`, handed back to the model; a name that does not resolve is
 * `host_not_found` (retryable only for a temporary resolver failure).
 */
export async function resolveEgressTarget(url: URL, allowList: readonly string[], options: EgressOptions): Promise<EgressTarget> {
  if (url.username !== '' || url.password !== '') throw deny('URLs with credentials are not allowed');
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && options.local)) {
    throw deny(`only https URLs are allowed${url.protocol === 'http:' ? ' (plain http only in local development, APP_ENVIRONMENT=local)' : ''}`);
  }
  const host = normalizeHost(url.hostname);
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
  if (!findEgressEntry(host, port, allowList, options)) {
    throw deny(
      `"${host}" port ${port} is not on this run's egress allow-list (the tenant's egressAllowList, limited to what the deployment's TOOL_EGRESS_ALLOW_LIST allows; an entry without a port means 443)`,
    );
  }
  let addresses: readonly ResolvedAddress[];
  const literal = isIP(bare(host));
  if (literal !== 0) {
    addresses = [{ address: bare(host), family: literal === 6 ? 6 : 4 }];
  } else {
    try {
      addresses = await options.resolve(host);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === 'ENOTFOUND' || code === 'ENODATA') throw new ToolError('host_not_found', `"${host}" does not resolve`);
      if (code === 'EAI_AGAIN') throw new ToolError('host_not_found', `"${host}" could not be resolved (temporary failure)`, true);
      throw error;
    }
  }
  const first = addresses[0];
  if (!first) throw deny(`"${host}" resolves to no address`);
  for (const { address } of addresses) {
    const refusal = addressRefusal(host, address, options);
    if (refusal) {
      throw deny(`"${host}" resolves to ${address}, a ${refusal} address; http_request connects only to public addresses`);
    }
  }
  return { url, host, port, address: first.address, family: first.family };
}

export interface PinnedRequest {
  method: 'GET' | 'POST';
  body?: string;
  signal: AbortSignal;
  /** Bytes of the response body kept; the rest is not read. */
  maxBodyBytes: number;
  /** Extra trust roots for TLS (tests with a self-signed upstream); the system's otherwise. */
  ca?: string;
}

export interface PinnedResponse {
  status: number;
  contentType: string | null;
  body: Buffer;
  truncated: boolean;
}

/**
 * One request to `target.address` (never a new lookup), with `Host` and, for https, the TLS
 * server name and certificate check set to the URL's host. Redirects are not followed: a 3xx
 * comes back as it is (its target would need its own check).
 */
const httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 64 });
const httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: 64 });

export async function sendPinnedRequest(target: EgressTarget, request: PinnedRequest): Promise<PinnedResponse> {
  const https = target.url.protocol === 'https:';
  const headers: Record<string, string> = { host: target.url.host, accept: '*/*', 'user-agent': 'durable-agent-pipeline' };
  if (request.body !== undefined) {
    headers['content-type'] = 'text/plain;charset=UTF-8';
    headers['content-length'] = String(Buffer.byteLength(request.body));
  }
  const options: RequestOptions & { servername?: string; ca?: string } = {
    host: target.address,
    family: target.family,
    port: target.port,
    path: `${target.url.pathname}${target.url.search}`,
    method: request.method,
    headers,
    // Pooled by address, port and TLS name (Node's agent key): a reused socket goes to an address
    // this very call resolved and checked, so pooling cannot bypass the check, and calls to the
    // same upstream skip a TCP and TLS handshake each.
    agent: https ? httpsAgent : httpAgent,
    signal: request.signal,
  };
  // SNI and the certificate's name check use the URL's host, not the address we connect to.
  if (https && isIP(bare(target.host)) === 0) options.servername = target.host;
  if (https && request.ca !== undefined) options.ca = request.ca;
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = (https ? httpsRequest : httpRequest)(options, resolve);
    req.once('error', reject);
    req.end(request.body);
  });
  const chunks: Buffer[] = [];
  let size = 0;
  let truncated = false;
  for await (const chunk of response as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    chunks.push(chunk);
    if (size > request.maxBodyBytes) {
      truncated = true;
      break;
    }
  }
  // Cut off at the limit: drop the socket; a body read to its end leaves it to the pool.
  if (truncated) response.destroy();
  return {
    status: response.statusCode ?? 0,
    contentType: response.headers['content-type'] ?? null,
    body: Buffer.concat(chunks).subarray(0, request.maxBodyBytes),
    truncated,
  };
}
