import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import type { DevhostLogger } from '../host/logger.js';

/**
 * Forwards an HTTP trigger's request to the worker's HTTP proxy (HTTP streaming), as the
 * Functions host does with YARP (azure-functions-host `src/WebJobs.Script.Grpc/Server/
 * DefaultHttpProxyService.cs`): the request goes to `HttpUri` with the invocation id in
 * `x-ms-invocation-id` (`ScriptConstants.HttpProxyCorrelationHeader`), started before the
 * invocation request, and the proxy's answer is streamed back to the client as it arrives. The
 * host itself writes nothing for such a request (`FunctionInvocationMiddleware` returns when
 * `HttpProxyingEnabled`).
 *
 * YARP's default transformer (microsoft/reverse-proxy `HttpTransformer.Default`) copies the
 * request headers but the hop-by-hop ones and `Host` (the destination's authority is used), sets
 * `X-Forwarded-For`/`-Proto`/`-Host` (`@azure/functions` builds the request URL from the last two)
 * and copies the answer's headers but the hop-by-hop ones. `ForwarderRequestConfig.ActivityTimeout`
 * is 240 s: an upstream idle that long ends the exchange (504 before an answer).
 *
 * A client that goes away aborts the forwarded request, so the function's request body stream
 * fails (`@azure/functions` reads the body from the proxied `IncomingMessage`).
 */

/** `ForwarderRequestConfig.ActivityTimeout` in `DefaultHttpProxyService`. */
export const PROXY_ACTIVITY_TIMEOUT_MS = 240_000;

export const INVOCATION_ID_HEADER = 'x-ms-invocation-id';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'trailers',
  'transfer-encoding',
  'upgrade',
]);

function connectionTokens(value: string | string[] | undefined): Set<string> {
  const joined = Array.isArray(value) ? value.join(',') : (value ?? '');
  return new Set(
    joined
      .split(',')
      .map((t) => t.trim().toLowerCase())
      .filter(Boolean),
  );
}

function forwardedRequestHeaders(req: IncomingMessage, invocationId: string): OutgoingHttpHeaders {
  const named = connectionTokens(req.headers.connection);
  const out: OutgoingHttpHeaders = {};
  for (const [key, values] of Object.entries(req.headersDistinct)) {
    if (!values || HOP_BY_HOP.has(key) || named.has(key) || key === 'host') continue;
    // Set, not appended: YARP's default X-Forwarded transforms replace what the client sent.
    if (key === 'x-forwarded-for' || key === 'x-forwarded-proto' || key === 'x-forwarded-host' || key === 'x-forwarded-prefix') continue;
    // The host uses TryAdd, so a client-sent id would win and the library would wait for an
    // invocation that never comes; the devhost always sends the real one.
    if (key === INVOCATION_ID_HEADER) continue;
    // The devhost already answered `100 Continue` to the client (host.ts).
    if (key === 'expect') continue;
    out[key] = values.length === 1 ? values[0] : values;
  }
  if (req.headers['transfer-encoding'] !== undefined) delete out['content-length'];
  out['x-forwarded-for'] = req.socket.remoteAddress ?? '127.0.0.1';
  out['x-forwarded-proto'] = 'http';
  if (req.headers.host) out['x-forwarded-host'] = req.headers.host;
  out[INVOCATION_ID_HEADER] = invocationId;
  return out;
}

function forwardedResponseHeaders(upstream: IncomingMessage): OutgoingHttpHeaders {
  const named = connectionTokens(upstream.headers.connection);
  const out: OutgoingHttpHeaders = {};
  for (const [key, values] of Object.entries(upstream.headersDistinct)) {
    if (!values || HOP_BY_HOP.has(key) || named.has(key)) continue;
    out[key] = key === 'set-cookie' || values.length > 1 ? values : values[0];
  }
  if (upstream.headers['transfer-encoding'] !== undefined) delete out['content-length'];
  return out;
}

export interface WorkerProxyForwarding {
  /** True once the proxy answered and the answer's head went to the client. */
  readonly answered: boolean;
  /** Settles (never rejects) when the exchange is over, however it ended. */
  readonly done: Promise<void>;
  /** The invocation failed: abort the forwarded request; 500 when nothing was answered yet. */
  invocationFailed(): void;
}

export interface WorkerProxyForwardOptions {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  /** The worker's `HttpUri` capability, e.g. `http://localhost:55123/`. */
  httpUri: string;
  invocationId: string;
  maxRequestBodyBytes: number;
  logger: DevhostLogger;
}

/** Starts forwarding `req` to the worker's proxy; call before invoking the function. */
export function forwardToWorkerProxy(options: WorkerProxyForwardOptions): WorkerProxyForwarding {
  const { req, res, url, invocationId, logger } = options;
  const target = new URL(options.httpUri);
  const path = `${target.pathname.replace(/\/+$/, '')}${url.pathname}${url.search}`;
  let answered = false;
  let finished = false;
  let settle!: () => void;
  const done = new Promise<void>((resolve) => (settle = resolve));
  const finish = (): void => {
    if (finished) return;
    finished = true;
    settle();
  };

  const upstream = httpRequest({
    protocol: target.protocol,
    hostname: target.hostname,
    port: target.port,
    method: req.method,
    path,
    headers: forwardedRequestHeaders(req, invocationId),
    // One connection per exchange: nothing pooled outlives the devhost.
    agent: false,
  });

  /** Ends the exchange without the proxy's answer: `status` if the client has none yet, else cut. */
  const fail = (status: number): void => {
    if (finished) return;
    upstream.destroy();
    if (!answered && !res.headersSent && !res.destroyed) {
      // An empty answer, as the host's own statuses; after a refused body the connection closes.
      res.writeHead(status, { 'content-length': '0', ...(status === 413 ? { connection: 'close' } : {}) });
      res.end();
    } else res.destroy();
    finish();
  };

  // The head goes at once, so the library hands the function its request before any body byte
  // arrives (the function may be the one waiting for it).
  upstream.flushHeaders();

  upstream.setTimeout(PROXY_ACTIVITY_TIMEOUT_MS, () => {
    logger.error(`HTTP streaming: the worker's proxy was idle for ${PROXY_ACTIVITY_TIMEOUT_MS / 1000}s (Id=${invocationId}); ending the request as the host does`);
    fail(504);
  });
  upstream.on('error', (error) => {
    if (finished) return;
    logger.error(`HTTP streaming: forwarding to the worker's proxy failed (Id=${invocationId}): ${error.message}`);
    // YARP answers a failed forward with 502 Bad Gateway.
    fail(502);
  });
  upstream.on('response', (answer) => {
    if (finished) {
      answer.destroy();
      return;
    }
    answered = true;
    res.writeHead(answer.statusCode ?? 502, forwardedResponseHeaders(answer));
    // Each chunk the function writes reaches the client as it comes (flushed per write).
    answer.on('data', (chunk: Buffer) => {
      if (!res.write(chunk)) answer.pause();
    });
    res.on('drain', () => answer.resume());
    answer.on('end', () => {
      res.end();
      finish();
    });
    answer.on('aborted', () => fail(502));
    answer.on('error', () => fail(502));
  });

  // The client went away before its answer was complete: abort the forwarded request, which the
  // function sees as an error on its request body stream.
  res.on('close', () => {
    if (res.writableFinished || finished) return;
    upstream.destroy();
    finish();
  });

  let size = 0;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > options.maxRequestBodyBytes) {
      req.pause();
      fail(413);
      return;
    }
    if (!upstream.write(chunk)) req.pause();
  });
  upstream.on('drain', () => req.resume());
  req.on('end', () => {
    if (!finished) upstream.end();
  });
  req.on('error', () => fail(400));

  return {
    get answered() {
      return answered;
    },
    done,
    invocationFailed() {
      fail(500);
    },
  };
}
