import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAzurite, type AzuriteHandle } from '../../devhost/local-services/azurite.js';
import { hostFixture, LIBRARY_VERSIONS } from './conformance-kit.js';

/**
 * Blob trigger -> queue output -> queue trigger -> blob output, through the devhost CLI with each
 * pinned `@azure/functions`: the content arrives as a Buffer, trigger metadata is camel-cased by
 * the library, and return values reach both output kinds. Needs `npm run build`.
 */

let azurite: AzuriteHandle;
beforeAll(async () => {
  azurite = await startAzurite({ queue: true });
}, 60_000);
afterAll(async () => azurite?.stop());

async function waitForBlob(blobs: BlobServiceClient, container: string, name: string, timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      // One GET: a function overwriting the blob meanwhile cannot tear the read.
      const body = (await blobs.getContainerClient(container).getBlobClient(name).download()).readableStreamBody;
      const chunks: Buffer[] = [];
      for await (const chunk of body ?? []) chunks.push(Buffer.from(chunk as Buffer));
      return Buffer.concat(chunks).toString('utf8');
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode !== 404) throw error;
    }
    if (Date.now() > deadline) throw new Error(`no ${container}/${name} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('conformance: storage blob and queue bindings', () => {
  for (const library of LIBRARY_VERSIONS) {
    it(`@azure/functions ${library.label}`, async () => {
      const host = await hostFixture('storage-app', library, [], { StorageConnection: azurite.connectionString });
      try {
        const blobs = BlobServiceClient.fromConnectionString(azurite.connectionString);
        const drops = blobs.getContainerClient('drops');
        await drops.createIfNotExists();
        const name = `order-${library.label}`;
        await drops.getBlockBlobClient(name).upload('12345', 5);
        const result = JSON.parse(await waitForBlob(blobs, 'order-results', `${name}.json`)) as unknown;
        expect(result).toEqual({ message: { orderId: name, size: 5, isBuffer: true }, dequeueCount: 1 });
      } finally {
        expect(await host.close()).toBe(0);
      }
    });
  }
});
