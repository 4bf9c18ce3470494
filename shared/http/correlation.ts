import { randomUUID } from 'node:crypto';

const CORRELATION_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The caller's `x-correlation-id` when it is a plausible id (1-128 url-safe characters),
 * otherwise a new UUID. Never echoes arbitrary header content back.
 */
export function correlationIdFrom(headers: Headers): string {
  const given = headers.get('x-correlation-id');
  return given && CORRELATION_ID.test(given) ? given : randomUUID();
}
