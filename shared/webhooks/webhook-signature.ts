import { createHmac, timingSafeEqual } from 'node:crypto';
import { UnauthorizedError } from '../http/http-errors.js';

/**
 * Webhook request signing (DESIGN.md section 3): `x-signature: sha256=<hex>` where the hex is
 * HMAC-SHA256 with the source's secret over `${x-timestamp}.${rawBody}`, and `x-timestamp` is
 * unix seconds within {@link WEBHOOK_TIMESTAMP_TOLERANCE_MS} of our clock (either side). The
 * timestamp is signed, so an old request cannot be made fresh; within the window a replay is
 * absorbed by `x-delivery-id` idempotency.
 */
export const WEBHOOK_TIMESTAMP_TOLERANCE_MS = 5 * 60_000;

/** The `x-signature` value for a request (what a customer system computes). */
export function signWebhook(secret: string, timestamp: string, rawBody: Uint8Array | string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest('hex')}`;
}

export interface WebhookSignatureCheck {
  secret: string;
  signatureHeader: string | null;
  timestampHeader: string | null;
  rawBody: Uint8Array;
  nowMs: number;
}

/**
 * Throws 401 unless the request is signed with `secret` and fresh. Codes:
 * `webhook_signature_missing`, `webhook_timestamp_invalid` (missing, malformed or outside the
 * window), `webhook_signature_invalid`. The comparison is constant-time.
 */
export function verifyWebhookSignature(check: WebhookSignatureCheck): void {
  if (!check.signatureHeader) {
    throw new UnauthorizedError('webhook_signature_missing', 'Sign the request: x-signature: sha256=<hex HMAC of "timestamp.body">.');
  }
  const timestamp = check.timestampHeader?.trim() ?? '';
  if (!/^\d{1,12}$/.test(timestamp)) {
    throw new UnauthorizedError('webhook_timestamp_invalid', 'x-timestamp must be the signing time in unix seconds.');
  }
  if (Math.abs(check.nowMs - Number(timestamp) * 1000) > WEBHOOK_TIMESTAMP_TOLERANCE_MS) {
    throw new UnauthorizedError('webhook_timestamp_invalid', 'x-timestamp is more than 5 minutes away from the current time; sign the request again.');
  }
  const given = /^sha256=([0-9a-fA-F]{64})$/.exec(check.signatureHeader.trim())?.[1];
  const expected = signWebhook(check.secret, timestamp, check.rawBody).slice('sha256='.length);
  // Both sides are 32 bytes whenever the header is well formed, so timingSafeEqual never sees unequal lengths.
  const valid = given !== undefined && timingSafeEqual(Buffer.from(given.toLowerCase(), 'hex'), Buffer.from(expected, 'hex'));
  if (!valid) throw new UnauthorizedError('webhook_signature_invalid', 'The signature does not match the request.');
}
