import type { HttpResponseInit } from '@azure/functions';
import { isAppErrorShape } from '../errors.js';
import { dependencyUnavailable } from './http-errors.js';

/** An RFC 9457 problem document plus our stable `code`. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  code: string;
  [extension: string]: unknown;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export interface ProblemInit {
  status: number;
  code: string;
  detail: string;
  instance?: string;
  title?: string;
  /** Extra members, e.g. `errors` for validation details. */
  extensions?: Record<string, unknown>;
}

export function problemResponse(init: ProblemInit, headers: Record<string, string> = {}): HttpResponseInit {
  const body: Problem = {
    ...(init.extensions ?? {}),
    type: `https://errors.durable-agent-pipeline.dev/${init.code}`,
    title: init.title ?? TITLES[init.status] ?? 'Error',
    status: init.status,
    detail: init.detail,
    code: init.code,
    ...(init.instance === undefined ? {} : { instance: init.instance }),
  };
  return { status: init.status, headers: { 'content-type': 'application/problem+json', ...headers }, body: JSON.stringify(body) };
}

/** String headers an error carries (e.g. `WWW-Authenticate`, `Retry-After`); anything else is ignored. */
function errorHeaders(error: object): Record<string, string> {
  const headers = (error as { headers?: unknown }).headers;
  if (typeof headers !== 'object' || headers === null) return {};
  return Object.fromEntries(Object.entries(headers).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
}

/**
 * The one mapper from errors to problem+json at the HTTP edge. Our errors keep their code,
 * status and message; anything unexpected becomes a generic 500 whose details go to `report`
 * (telemetry) and never to the caller.
 */
export function errorToProblem(error: unknown, context: { instance?: string; correlationId: string }, report: (error: unknown) => void): HttpResponseInit {
  const instance = context.instance === undefined ? {} : { instance: context.instance };
  error = dependencyUnavailable(error) ?? error;
  // 4xx are the caller's; a 503 (a dependency such as the identity provider is unreachable) is
  // shown as such, with Retry-After, and still reported; any other failure is a bare 500.
  if (isAppErrorShape(error) && (error.status < 500 || error.name === 'ServiceUnavailableError')) {
    if (error.status >= 500) report(error);
    // Challenge / Retry-After headers the error asks for; the correlation id always wins.
    const headers = { ...errorHeaders(error), 'x-correlation-id': context.correlationId };
    const extensions = (error as { extensions?: Record<string, unknown> }).extensions ?? {};
    return problemResponse({ status: error.status, code: error.code, detail: error.message, extensions, ...instance }, headers);
  }
  report(error);
  const headers = { 'x-correlation-id': context.correlationId };
  return problemResponse({ status: 500, code: 'internal_error', detail: `An unexpected error occurred. Quote correlation id ${context.correlationId}.`, ...instance }, headers);
}
