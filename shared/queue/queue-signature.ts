import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Signed queue messages: in multi-tenant deployments a message on `agent-requests` must prove
 * which tenant sent it, because anyone with send rights on the queue could otherwise start runs
 * for any tenant. The producer signs with its tenant's queue secret (the tenant catalog's
 * `queueSecretRef`, a Key Vault secret) and carries the signature in application properties:
 *
 * - `x-tenant-id`: the tenant (must equal the body's `tenantId`)
 * - `x-timestamp`: unix seconds when signed (within 5 minutes of our clock, either side)
 * - `x-signature`: `v1,<base64 HMAC-SHA256(secret, "<tenantId>.<idempotencyKey>.<timestamp>.<body>")>`,
 *   where `<idempotencyKey>` is the body's `idempotencyKey` (empty when it has none) and `<body>`
 *   the exact body text (send the body as a JSON string, not an object).
 *
 * docs/queue.md shows the producer side.
 */
export const QUEUE_SIGNATURE_TOLERANCE_MS = 5 * 60_000;

export const QueueSignatureProperties = {
  tenant: 'x-tenant-id',
  timestamp: 'x-timestamp',
  signature: 'x-signature',
} as const;

export interface QueueSignatureInput {
  tenantId: string;
  idempotencyKey: string | undefined;
  timestamp: string;
  body: string;
}

function mac(secret: string, input: QueueSignatureInput): Buffer {
  return createHmac('sha256', secret)
    .update(`${input.tenantId}.${input.idempotencyKey ?? ''}.${input.timestamp}.`)
    .update(input.body)
    .digest();
}

/** The `x-signature` value for a message (what a producer computes). */
export function signQueueMessage(secret: string, input: QueueSignatureInput): string {
  return `v1,${mac(secret, input).toString('base64')}`;
}

/** Application properties of a signed message, for producers and tests. */
export function signedQueueProperties(secret: string, input: Omit<QueueSignatureInput, 'timestamp'>, nowMs: number): Record<string, string> {
  const timestamp = String(Math.floor(nowMs / 1000));
  return {
    [QueueSignatureProperties.tenant]: input.tenantId,
    [QueueSignatureProperties.timestamp]: timestamp,
    [QueueSignatureProperties.signature]: signQueueMessage(secret, { ...input, timestamp }),
  };
}

/** Why a message's signature does not hold, or undefined when it does. Constant-time comparison. */
export function queueSignatureProblem(secret: string, input: QueueSignatureInput, signature: string, nowMs: number): string | undefined {
  if (!/^\d{1,12}$/.test(input.timestamp)) return `${QueueSignatureProperties.timestamp} must be the signing time in unix seconds`;
  if (Math.abs(nowMs - Number(input.timestamp) * 1000) > QUEUE_SIGNATURE_TOLERANCE_MS)
    return `${QueueSignatureProperties.timestamp} is more than 5 minutes away from the current time; sign the message again`;
  const expected = mac(secret, input);
  const given = signature.startsWith('v1,') ? Buffer.from(signature.slice(3), 'base64') : Buffer.alloc(0);
  return given.length === expected.length && timingSafeEqual(given, expected) ? undefined : 'the signature does not match the message';
}

/** A stable idempotency key for a signed message without one: a replay of it names the same run. */
export function signatureKey(signature: string): string {
  return `sig:${createHash('sha256').update(signature).digest('base64url').slice(0, 32)}`;
}
