import { createHmac, timingSafeEqual } from 'node:crypto';
import { UnauthorizedError } from '../http/http-errors.js';

/**
 * Webhook request signing, two schemes (per source, `signatureScheme` in the tenant catalog):
 *
 * - **Standard Webhooks** (`standard-webhooks`, the default; https://www.standardwebhooks.com):
 *   `webhook-id`, `webhook-timestamp` (unix seconds) and `webhook-signature: v1,<base64>` (a
 *   space-separated list; any one matching passes), HMAC-SHA256 over `${id}.${timestamp}.${body}`.
 *   The delivery id is signed, so a captured request replayed under a new id does not verify.
 *   A secret of the form `whsec_<base64>` is used as those bytes; any other secret as its UTF-8.
 * - **Legacy** (`legacy-hmac`, kept for existing integrations): `x-signature: sha256=<hex>` over
 *   `${x-timestamp}.${body}`; `x-delivery-id` is not signed, so the door also refuses a
 *   signature it has already accepted for another delivery id within the window.
 *
 * Both: the timestamp must be within {@link WEBHOOK_TIMESTAMP_TOLERANCE_MS} of our clock.
 * Comparisons are constant-time.
 */
export const WEBHOOK_TIMESTAMP_TOLERANCE_MS = 5 * 60_000;

export type WebhookScheme = 'standard-webhooks' | 'legacy-hmac';

/** Headers of a delivery, as the door reads them (null when absent). */
export interface WebhookHeaders {
  get(name: string): string | null;
}

/** What a request claims before its signature is checked: which scheme, its timestamp and delivery id. */
export interface WebhookClaims {
  scheme: WebhookScheme;
  timestamp: string;
  /** Signed under Standard Webhooks; under legacy, the unsigned `x-delivery-id` (may be empty here). */
  deliveryId: string;
  /** The signatures given, decoded (32 bytes each when well formed). */
  signatures: Buffer[];
}

function keyOf(secret: string): Buffer {
  return secret.startsWith('whsec_') ? Buffer.from(secret.slice('whsec_'.length), 'base64') : Buffer.from(secret, 'utf8');
}

/** The `webhook-signature` value for a Standard Webhooks delivery (what a customer system computes). */
export function signStandardWebhook(secret: string, deliveryId: string, timestamp: string, rawBody: Uint8Array | string): string {
  return `v1,${createHmac('sha256', keyOf(secret)).update(`${deliveryId}.${timestamp}.`).update(rawBody).digest('base64')}`;
}

/** The `x-signature` value for a legacy delivery. */
export function signWebhook(secret: string, timestamp: string, rawBody: Uint8Array | string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest('hex')}`;
}

/**
 * Reads the claims of a delivery without any secret, so the same checks (and the same answers)
 * happen whether or not the tenant and source exist. Throws 401 `webhook_signature_missing` or
 * `webhook_timestamp_invalid`.
 */
export function readWebhookClaims(headers: WebhookHeaders, nowMs: number): WebhookClaims {
  const standard = headers.get('webhook-signature');
  const legacy = headers.get('x-signature');
  let claims: WebhookClaims;
  if (standard !== null && standard.trim() !== '') {
    const signatures = standard
      .trim()
      .split(/\s+/)
      .filter((s) => s.startsWith('v1,'))
      .map((s) => Buffer.from(s.slice(3), 'base64'));
    claims = { scheme: 'standard-webhooks', timestamp: headers.get('webhook-timestamp')?.trim() ?? '', deliveryId: headers.get('webhook-id')?.trim() ?? '', signatures };
  } else if (legacy !== null && legacy.trim() !== '') {
    const hex = /^sha256=([0-9a-fA-F]{64})$/.exec(legacy.trim())?.[1];
    claims = {
      scheme: 'legacy-hmac',
      timestamp: headers.get('x-timestamp')?.trim() ?? '',
      deliveryId: headers.get('x-delivery-id')?.trim() ?? '',
      signatures: hex ? [Buffer.from(hex, 'hex')] : [],
    };
  } else {
    throw new UnauthorizedError(
      'webhook_signature_missing',
      'Sign the request: webhook-id, webhook-timestamp and webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body"> (Standard Webhooks).',
    );
  }
  if (!/^\d{1,12}$/.test(claims.timestamp)) {
    throw new UnauthorizedError('webhook_timestamp_invalid', 'The timestamp header must be the signing time in unix seconds.');
  }
  if (Math.abs(nowMs - Number(claims.timestamp) * 1000) > WEBHOOK_TIMESTAMP_TOLERANCE_MS) {
    throw new UnauthorizedError('webhook_timestamp_invalid', 'The timestamp is more than 5 minutes away from the current time; sign the request again.');
  }
  return claims;
}

/** The one answer for a signature that does not verify, for whatever reason (also: no such tenant or source). */
export function signatureInvalid(): UnauthorizedError {
  return new UnauthorizedError('webhook_signature_invalid', 'The signature does not match the request.');
}

/** True when one of the claimed signatures is the HMAC of the request under `secret` (constant-time per candidate). */
export function signatureMatches(claims: WebhookClaims, secret: string, rawBody: Uint8Array): boolean {
  const expected =
    claims.scheme === 'standard-webhooks'
      ? createHmac('sha256', keyOf(secret)).update(`${claims.deliveryId}.${claims.timestamp}.`).update(rawBody).digest()
      : createHmac('sha256', secret).update(`${claims.timestamp}.`).update(rawBody).digest();
  let ok = false;
  for (const given of claims.signatures) {
    if (given.length === expected.length && timingSafeEqual(given, expected)) ok = true;
  }
  return ok;
}
