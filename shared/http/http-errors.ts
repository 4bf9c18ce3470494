import { AppError } from '../errors.js';

/**
 * Errors the HTTP front door raises. Each keeps the project's error shape (literal `name`,
 * stable `code`, `status`, `retryable`) and may set {@link AppError}'s `headers`, which the one
 * problem+json mapper (`errorToProblem`) copies onto the response: `WWW-Authenticate` on
 * 401/403, `Retry-After` on 429 and 503. Match on `name`/`code`, never `instanceof`.
 */

/** Response headers an error asks the mapper to add. */
export type ErrorHeaders = Readonly<Record<string, string>>;

/** Quotes a value for an RFC 9110 auth-param (`error_description="..."`). */
function quoted(value: string): string {
  return `"${value.replace(/["\\]/g, '')}"`;
}

/** RFC 6750 challenge for a bearer-protected API. `error` is omitted when no token was sent. */
export function bearerChallenge(error?: 'invalid_token' | 'insufficient_scope' | 'invalid_request', description?: string): string {
  const params = ['realm="runs-api"'];
  if (error) params.push(`error=${quoted(error)}`);
  if (description) params.push(`error_description=${quoted(description)}`);
  return `Bearer ${params.join(', ')}`;
}

/** 401: the caller is not authenticated (no, bad or stale credentials). */
export class UnauthorizedError extends AppError {
  override readonly name = 'UnauthorizedError';
  constructor(code: string, message: string, headers: ErrorHeaders = {}) {
    super(code, 401, message, { headers });
  }
}

/** 403 raised by token checks; carries an `insufficient_scope` challenge when a permission is missing. */
export class AccessDeniedError extends AppError {
  override readonly name = 'AccessDeniedError';
  constructor(code: string, message: string, headers: ErrorHeaders = {}) {
    super(code, 403, message, { headers });
  }
}

/** 409: the request is valid but the resource is not in a state that allows it. */
export class ConflictError extends AppError {
  override readonly name = 'ConflictError';
  constructor(code: string, message: string) {
    super(code, 409, message);
  }
}

/** 413: the body is over the door's limit. */
export class ContentTooLargeError extends AppError {
  override readonly name = 'ContentTooLargeError';
  constructor(limitBytes: number) {
    super('body_too_large', 413, `The request body is larger than ${limitBytes} bytes.`, { extensions: { limitBytes } });
  }
}

/** 415: the body is not in a media type the door accepts. */
export class UnsupportedMediaTypeError extends AppError {
  override readonly name = 'UnsupportedMediaTypeError';
  constructor(expected: string, got: string | null) {
    super('unsupported_media_type', 415, `Send the body as ${expected}${got ? ` (got ${got.slice(0, 100)})` : ' (no content-type given)'}.`);
  }
}

/** 429: the tenant's request budget for this instance is spent; retry after `retryAfterSeconds`. */
export class RateLimitedError extends AppError {
  override readonly name = 'RateLimitedError';
  constructor(retryAfterSeconds: number) {
    super('rate_limited', 429, `Too many requests for this tenant. Retry after ${retryAfterSeconds} s.`, {
      extensions: { retryAfterSeconds },
      headers: { 'retry-after': String(retryAfterSeconds) },
    });
  }
}

/**
 * 503: something the request depends on (e.g. the identity provider's signing keys) cannot be
 * reached right now. Not the caller's fault and worth retrying after `retryAfterSeconds`.
 */
export class ServiceUnavailableError extends AppError {
  override readonly name = 'ServiceUnavailableError';
  constructor(code: string, message: string, retryAfterSeconds: number, cause?: unknown) {
    super(code, 503, message, { retryable: true, cause, extensions: { retryAfterSeconds }, headers: { 'retry-after': String(retryAfterSeconds) } });
  }
}

/**
 * True when verifying a token failed because its signing keys could not be fetched (network
 * error, timeout, a non-200 or malformed key set), as opposed to a bad token.
 */
export function isKeySourceFailure(error: unknown): boolean {
  const e = error as { code?: unknown; name?: unknown; message?: unknown } | undefined;
  if (typeof e?.code === 'string' && ['ERR_JWKS_TIMEOUT', 'ERR_JWKS_INVALID', 'ERR_JOSE_GENERIC'].includes(e.code)) return true;
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return true;
  return e?.name === 'TypeError' && e.message === 'fetch failed';
}

/**
 * A dependency failure that is not the request's fault, recognised from the SDKs' own error
 * shapes: the Durable client could not reach its backend (a transport error, or the extension
 * answered 5xx, e.g. the local host's 503 while its store cannot be written), or a storage call
 * failed on the service side. Returns the 503 to answer with, or undefined.
 */
export function dependencyUnavailable(error: unknown): ServiceUnavailableError | undefined {
  const e = error as { name?: unknown; message?: unknown; statusCode?: unknown; response?: unknown; code?: unknown } | undefined;
  const message = typeof e?.message === 'string' ? e.message : '';
  // durable-functions: `The operation failed with an unexpected status code: 503. Details: ...`
  if (/unexpected status code: 5\d\d\b/.test(message) || (e?.name === 'AxiosError' && e.response === undefined)) {
    return new ServiceUnavailableError('orchestration_backend_unavailable', 'The orchestration backend cannot be reached right now; retry shortly.', 5, error);
  }
  if (e?.name === 'RestError' && (typeof e.statusCode !== 'number' || e.statusCode >= 500)) {
    return new ServiceUnavailableError('storage_unavailable', 'The blob store cannot be reached right now; retry shortly.', 5, error);
  }
  return undefined;
}
