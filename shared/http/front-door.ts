import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { correlationIdFrom } from './correlation.js';
import { RateLimitedError } from './http-errors.js';
import { errorToProblem } from './problem.js';
import type { RateLimiter } from './rate-limiter.js';

/**
 * What every HTTP door shares: a correlation id taken from the caller (when well-formed) or
 * made here, echoed on every answer and handed to the run; errors turned into problem+json by
 * the one mapper; unexpected errors logged with the correlation id and answered with a generic
 * 500. Handlers only validate and start or query work, they never wait for a run.
 */
export interface DoorContext {
  correlationId: string;
  invocation: InvocationContext;
}

export type DoorHandler = (request: HttpRequest, door: DoorContext) => Promise<HttpResponseInit>;

/** Wraps a door handler into an Azure Functions HTTP handler. */
export function frontDoor(handler: DoorHandler): (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit> {
  return async (request, context) => {
    const correlationId = correlationIdFrom(request.headers);
    let instance: string | undefined;
    try {
      instance = new URL(request.url).pathname;
    } catch {
      instance = undefined;
    }
    let response: HttpResponseInit;
    try {
      response = await handler(request, { correlationId, invocation: context });
    } catch (error) {
      response = errorToProblem(error, { correlationId, ...(instance === undefined ? {} : { instance }) }, (unexpected) =>
        context.error(`Unhandled error (correlation ${correlationId})`, unexpected),
      );
    }
    const headers = new Headers(response.headers);
    headers.set('x-correlation-id', correlationId);
    // Run state changes from one poll to the next and is tenant data: never cache it on the way.
    if (!headers.has('cache-control')) headers.set('cache-control', 'no-store');
    return { ...response, headers };
  };
}

/** A JSON answer with extra headers. */
export function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): HttpResponseInit {
  return { status, jsonBody: body, headers: { 'content-type': 'application/json; charset=utf-8', ...headers } };
}

/** Spends one request of `tenantId`'s per-instance budget; throws 429 with Retry-After when empty. */
export function enforceRateLimit(limiter: RateLimiter, tenantId: string, perMinute: number): void {
  const verdict = limiter.take(tenantId, perMinute);
  if (!verdict.allowed) throw new RateLimitedError(Math.max(1, Math.ceil(verdict.retryAfterMs / 1000)));
}

/**
 * The API base path of a request (`/api` with the default route prefix), found by cutting the
 * path at `marker` (e.g. `/tenants/`). Lets status URLs follow whatever route prefix host.json sets.
 */
export function apiBaseUrl(requestUrl: string, marker: string): string {
  const url = new URL(requestUrl);
  const at = url.pathname.indexOf(marker);
  return `${url.origin}${at >= 0 ? url.pathname.slice(0, at) : ''}`;
}
