import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Invoker, RegisteredFunction, RpcHttpData, RpcTypedData } from '../host/core-types.js';
import type { AuthLevel, FunctionKeyStore } from '../host/function-keys.js';
import { compareRoutePrecedence, compileRoute, type CompiledRoute } from './http-route.js';
import type { DevhostLogger } from '../host/logger.js';
import { readBody, refuseTooLarge } from '../host/request-body.js';
import { hostSendsBody, httpTriggerMetadata, toProxiedRpcHttpRequest, toRpcHttpRequest } from './rpc-http-request.js';
import { renderSetCookie } from './set-cookie.js';
import { forwardToWorkerProxy } from './worker-proxy-forward.js';

/** An HTTP-triggered function with its route compiled once at startup. */
export interface HttpRoute {
  fn: RegisteredFunction;
  route: CompiledRoute;
  /** Upper-case methods; empty means every method, as in Functions. */
  methods: ReadonlySet<string>;
  authLevel: AuthLevel;
  /** Route shown to users, with prefix, e.g. `/api/items/{id}`. */
  displayRoute: string;
}

export function buildHttpRoutes(functions: Iterable<RegisteredFunction>, routePrefix: string): HttpRoute[] {
  const routes: HttpRoute[] = [];
  for (const fn of functions) {
    if (fn.trigger.type !== 'httpTrigger') continue;
    const t = fn.trigger as { route?: string; methods?: string[]; authLevel?: AuthLevel };
    const template = t.route ?? fn.name;
    const prefix = routePrefix.replace(/^\/+|\/+$/g, '');
    routes.push({
      fn,
      route: compileRoute(template),
      methods: new Set((t.methods ?? []).map((m) => m.toUpperCase())),
      authLevel: t.authLevel ?? 'anonymous',
      displayRoute: `/${[prefix, template.replace(/^\/+/, '')].filter(Boolean).join('/')}`,
    });
  }
  return routes.sort((a, b) => compareRoutePrecedence(a.route, b.route));
}

/** The key a caller presented: `x-functions-key` header first, then the `code` query parameter. */
export function presentedKey(req: IncomingMessage, url: URL): string | undefined {
  const header = req.headers['x-functions-key'];
  const fromHeader = Array.isArray(header) ? header[0] : header;
  return fromHeader ?? url.searchParams.get('code') ?? undefined;
}

function bodyBytes(body: RpcTypedData | null | undefined): Buffer {
  if (!body) return Buffer.alloc(0);
  if (body.bytes) return Buffer.from(body.bytes.buffer, body.bytes.byteOffset, body.bytes.byteLength);
  if (typeof body.string === 'string') return Buffer.from(body.string);
  if (typeof body.json === 'string') return Buffer.from(body.json);
  return Buffer.alloc(0);
}

/** Writes a problem-free empty answer, as the Functions host does for 401/404/413/500. */
export function sendStatus(res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-length': '0', ...headers });
  res.end();
}

export interface HttpDispatcherOptions {
  routes: readonly HttpRoute[];
  /** e.g. `/api`; an empty string when host.json sets `routePrefix: ""`. */
  prefix: string;
  keys: FunctionKeyStore;
  invoke: Invoker;
  maxRequestBodyBytes: number;
  logger: DevhostLogger;
  /**
   * The worker's `HttpUri` capability: set when the app enabled HTTP streaming, and then every
   * HTTP trigger's request is forwarded to that proxy instead of passing through RPC.
   */
  httpUri?: string | undefined;
  /** The worker declared `RequiresRouteParameters`: proxied requests still carry the route parameters. */
  requiresRouteParameters?: boolean;
}

/**
 * Serves HTTP-triggered functions. Returns false when no function route owns the path so the
 * caller can answer 404. Answers as the Functions host does: 404 for an unknown route or a
 * method the route does not accept (the host does not send 405), 401 for a missing or wrong
 * key, 413 over the body limit, 500 with an empty body when the handler throws. The function
 * gets the request as the host shapes it (`rpc-http-request.ts`); with HTTP streaming on
 * (`options.httpUri`) the request goes through the worker's proxy instead (`worker-proxy-forward.ts`).
 */
export async function dispatchHttp(options: HttpDispatcherOptions, req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
  const { prefix } = options;
  let path = url.pathname;
  if (prefix) {
    const lower = path.toLowerCase();
    if (lower !== prefix && !lower.startsWith(`${prefix}/`)) return false;
    path = path.slice(prefix.length);
  }
  const method = (req.method ?? 'GET').toUpperCase();
  let chosen: HttpRoute | undefined;
  let params: Record<string, string> | undefined;
  for (const candidate of options.routes) {
    if (candidate.methods.size > 0 && !candidate.methods.has(method)) continue;
    const matched = candidate.route.match(path);
    if (matched) {
      chosen = candidate;
      params = matched;
      break;
    }
  }
  if (!chosen || !params) return false;

  if (!options.keys.authorize(chosen.authLevel, presentedKey(req, url), chosen.fn.name)) {
    sendStatus(res, 401);
    return true;
  }

  if (options.httpUri) {
    await dispatchProxied(options, options.httpUri, chosen.fn, params, req, res, url);
    return true;
  }

  let body: Buffer;
  try {
    body = await readBody(req, options.maxRequestBodyBytes);
  } catch (error) {
    if ((error as Error | undefined)?.name === 'RequestTooLargeError') refuseTooLarge(req, res);
    else sendStatus(res, 400, { connection: 'close' });
    return true;
  }
  const sendsBody = hostSendsBody(req);
  if (!sendsBody && body.length > 0) {
    options.logger.warn(
      `[${chosen.fn.name}] the request body (${body.length} bytes, no Content-Length) is not passed to the function: the Functions host sends a body only with Content-Length > 0`,
    );
  }
  const http = toRpcHttpRequest(req, url, method, params, sendsBody ? body : undefined);

  let response: RpcHttpData | null | undefined;
  try {
    const outcome = await options.invoke(chosen.fn, { [chosen.fn.triggerBindingName]: { http } }, httpTriggerMetadata(req, url, params));
    response = outcome.returnValue?.http;
    if (!response) {
      for (const [name, binding] of Object.entries(chosen.fn.metadata.bindings)) {
        if (binding.type === 'http' && binding.direction === 'out') {
          response = outcome.outputs.get(name)?.http ?? response;
        }
      }
    }
  } catch {
    // The invoker logged the error with its stack; the caller sees only the status.
    sendStatus(res, 500);
    return true;
  }

  if (!response) {
    sendStatus(res, 204);
    return true;
  }
  const status = Number(response.statusCode ?? '200') || 200;
  const payload = bodyBytes(response.body);
  const headers: Record<string, string | string[]> = { ...(response.headers ?? {}) };
  let cookies: string[];
  try {
    cookies = (response.cookies ?? []).map(renderSetCookie);
  } catch (error) {
    // ASP.NET Core throws while writing such a cookie; the host answers 500.
    options.logger.error(`[${chosen.fn.name}] the response cannot be written: ${(error as Error).message}`);
    sendStatus(res, 500);
    return true;
  }
  if (cookies.length > 0) {
    // Headers first, then the cookies appended (RawScriptResult.ExecuteResultAsync).
    const fromHeaders = Object.entries(headers).find(([key]) => key.toLowerCase() === 'set-cookie');
    if (fromHeaders) delete headers[fromHeaders[0]];
    headers['set-cookie'] = [...(fromHeaders ? [fromHeaders[1]].flat() : []), ...cookies];
  }
  headers['content-length'] = String(payload.length);
  res.writeHead(status, headers);
  res.end(payload);
  return true;
}

/**
 * HTTP streaming: forward the request to the worker's proxy under a fresh invocation id, then
 * invoke the function with the minimal RPC request the host sends a proxying worker; the answer
 * goes from the proxy to the client as the function writes it.
 */
async function dispatchProxied(
  options: HttpDispatcherOptions,
  httpUri: string,
  fn: RegisteredFunction,
  params: Record<string, string>,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<void> {
  const invocationId = randomUUID();
  const triggerMetadata = httpTriggerMetadata(req, url, params);
  const forwarding = forwardToWorkerProxy({ req, res, url, httpUri, invocationId, maxRequestBodyBytes: options.maxRequestBodyBytes, logger: options.logger });
  const http = toProxiedRpcHttpRequest(params, options.requiresRouteParameters ?? false);
  try {
    await options.invoke(fn, { [fn.triggerBindingName]: { http } }, triggerMetadata, { invocationId });
  } catch {
    // The invoker logged it. The library answers the proxy only from a successful invocation, so
    // the real host would wait out the 240 s activity timeout; the devhost answers 500 at once.
    forwarding.invocationFailed();
    return;
  }
  // A function that returned no response leaves the proxy unanswered: the host then waits for
  // the activity timeout (504), and so does the devhost.
  await forwarding.done;
}
