import type { TenantBlobSpace } from '../storage/blob-store.js';
import type { PayloadRef } from './run-types.js';

/**
 * Claim-check for orchestration payloads: text up to `inlineMaxBytes` travels inline; larger
 * text is written to the tenant's blob space once and travels as a path. Writes use
 * if-none-match so a retried activity stores the same blob, not a second one.
 */
export async function toPayloadRef(blobs: TenantBlobSpace, path: string, text: string, inlineMaxBytes: number): Promise<PayloadRef> {
  const bytes = Buffer.byteLength(text);
  if (bytes <= inlineMaxBytes) return { inline: text };
  await blobs.put(path, text, { contentType: 'application/json', ifNoneMatch: true });
  return { blob: path, bytes };
}

export async function readPayload(blobs: TenantBlobSpace, ref: PayloadRef): Promise<string> {
  if ('inline' in ref) return ref.inline;
  const content = await blobs.get(ref.blob);
  if (!content) throw new Error(`payload ${ref.blob} is missing`);
  return content.toString('utf8');
}
