import { join } from 'node:path';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { QueueServiceClient } from '@azure/storage-queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevhost, type Devhost } from '../../devhost/host/host.js';
import type { DevhostLogger } from '../../devhost/host/logger.js';
import { startAzurite, type AzuriteHandle } from '../../devhost/local-services/azurite.js';
import { decodeQueueMessage, encodeQueueMessage } from '../../devhost/storage/queue-extension.js';

/**
 * Blob (trigger, input, output) and Storage queue (trigger, output) bindings against a real
 * Azurite (blob and queue services, in memory, on free loopback ports), through the app's own
 * connection setting. Every wait is a bounded poll for a signal the functions leave in storage.
 */

const appDir = join(import.meta.dirname, '..', 'fixtures', 'storage-app');

let azurite: AzuriteHandle;
let host: Devhost;
let blobs: BlobServiceClient;
let queues: QueueServiceClient;
const lines: string[] = [];

const logger: DevhostLogger = {
  debug: () => undefined,
  info: (m) => void lines.push(`info: ${m}`),
  warn: (m) => void lines.push(`warn: ${m}`),
  error: (m) => void lines.push(`error: ${m}`),
};

/** Polls `probe` until it returns a value other than undefined; fails after `timeoutMs`. */
async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${lines.slice(-30).join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function blobText(container: string, name: string): Promise<string | undefined> {
  try {
    // One GET: a function overwriting the blob meanwhile cannot tear the read.
    const body = (await blobs.getContainerClient(container).getBlobClient(name).download()).readableStreamBody;
    const chunks: Buffer[] = [];
    for await (const chunk of body ?? []) chunks.push(Buffer.from(chunk as Buffer));
    return Buffer.concat(chunks).toString('utf8');
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return undefined;
    throw error;
  }
}

async function names(container: ContainerClient, prefix: string): Promise<string[]> {
  const found: string[] = [];
  try {
    for await (const item of container.listBlobsFlat({ prefix })) found.push(item.name);
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode !== 404) throw error;
  }
  return found;
}

beforeAll(async () => {
  azurite = await startAzurite({ queue: true });
  process.env['StorageConnection'] = azurite.connectionString;
  blobs = BlobServiceClient.fromConnectionString(azurite.connectionString);
  queues = QueueServiceClient.fromConnectionString(azurite.connectionString);
  host = await startDevhost({ appDir, port: 0, storage: 'memory', logger });
}, 60_000);

afterAll(async () => {
  await host?.stop();
  await azurite?.stop();
  delete process.env['StorageConnection'];
});

describe('blob bindings', () => {
  it('serves every storage function (none disabled)', () => {
    expect(host.app.disabled).toEqual([]);
    expect([...host.functions.keys()].sort()).toEqual(['enqueue', 'getNote', 'onFragileBlob', 'onFragileItem', 'onUpload', 'onWorkItem', 'putNote']);
  });

  it('writes a blob output and reads a blob input named by a route parameter', async () => {
    expect((await fetch(`${host.url}/api/notes/first`)).status).toBe(404); // a missing blob binds as null
    expect((await fetch(`${host.url}/api/notes/first`, { method: 'PUT', body: 'hello blob' })).status).toBe(204);
    expect(await blobText('notes', 'first.txt')).toBe('hello blob');
    const res = await fetch(`${host.url}/api/notes/first`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ note: 'hello blob', type: 'string' });
  });

  it('triggers once per blob version, with the pattern names and the host trigger metadata', async () => {
    const uploads = blobs.getContainerClient('uploads');
    await uploads.createIfNotExists();
    const first = await uploads.getBlockBlobClient('report.txt').upload('version one', 11, { metadata: { owner: 'ana' } });
    const processed = await waitFor('processed/report.txt', async () => {
      const text = await blobText('processed', 'report.txt');
      return text && (JSON.parse(text) as { content: string }).content === 'version one' ? (JSON.parse(text) as Record<string, unknown>) : undefined;
    });
    expect(processed).toMatchObject({
      isBuffer: true,
      name: 'report.txt',
      blobTrigger: 'uploads/report.txt',
      contentLength: 11,
      etag: first.etag, // the quoted HTTP ETag
      metadata: { owner: 'ana' },
    });
    expect(String(processed['uri'])).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1\/uploads\/report\.txt$/);

    // The host's receipt for that version.
    const hosts = blobs.getContainerClient('azure-webjobs-hosts');
    const receipts = await waitFor('a receipt', async () => {
      const found = (await names(hosts, 'blobreceipts/')).filter((n) => n.endsWith('/uploads/report.txt'));
      return found.length > 0 ? found : undefined;
    });
    expect(receipts[0]).toMatch(new RegExp(`^blobreceipts/[^/]+/Host\\.Functions\\.onUpload/${(first.etag ?? '').replace(/"/g, '')}/uploads/report\\.txt$`));

    // A second blob, then a new version of the first: each runs once more, nothing runs twice.
    await uploads.getBlockBlobClient('other.txt').upload('x', 1);
    await uploads.getBlockBlobClient('report.txt').upload('version two', 11);
    await waitFor('version two', async () => {
      const text = await blobText('processed', 'report.txt');
      return text?.includes('version two') ? true : undefined;
    });
    await waitFor('other.txt processed', async () => ((await blobText('processed', 'other.txt')) ? true : undefined));
    // Nothing runs twice: two sentinels processed one after the other mean a whole scan has
    // passed since both blobs were done. Then a restarted devhost, which knows only the receipts.
    const processedOnce = async (name: string): Promise<void> => {
      await uploads.getBlockBlobClient(name).upload('s', 1);
      await waitFor(`processed/${name}`, async () => ((await blobText('processed', name)) ? true : undefined));
    };
    await processedOnce('sentinel-1.txt');
    await processedOnce('sentinel-2.txt');
    await host.stop();
    host = await startDevhost({ appDir, port: 0, storage: 'memory', logger });
    await processedOnce('sentinel-3.txt');
    await processedOnce('sentinel-4.txt');
    const runs = blobs.getContainerClient('runs');
    expect(await names(runs, 'report.txt/')).toHaveLength(2);
    expect(await names(runs, 'other.txt/')).toHaveLength(1);
    expect(await names(runs, 'sentinel-1.txt/')).toHaveLength(1);
  });

  it('names a blob that fails on every try on webjobs-blobtrigger-poison', async () => {
    const fragile = blobs.getContainerClient('fragile-blobs');
    await fragile.createIfNotExists();
    await fragile.getBlockBlobClient('broken.bin').upload('boom', 4);
    const poison = queues.getQueueClient('webjobs-blobtrigger-poison');
    const message = await waitFor('a blob poison message', async () => {
      try {
        const peeked = await poison.peekMessages({ numberOfMessages: 1 });
        return peeked.peekedMessageItems[0];
      } catch {
        return undefined;
      }
    });
    expect(JSON.parse(decodeQueueMessage(message.messageText, 'base64') ?? '')).toMatchObject({
      Type: 'BlobTrigger',
      FunctionId: 'Host.Functions.onFragileBlob',
      ContainerName: 'fragile-blobs',
      BlobName: 'broken.bin',
    });
    expect(lines.filter((l) => l.includes("Executed 'onFragileBlob' (Failed"))).toHaveLength(5);
  });
});

describe('storage queue bindings', () => {
  it('sends an output message base64-encoded and triggers with the host metadata', async () => {
    const res = await fetch(`${host.url}/api/enqueue`, { method: 'POST', body: JSON.stringify({ jobId: 'job-1', size: 3 }) });
    expect(res.status).toBe(202);
    const result = await waitFor('queue-results/job-1.json', async () => {
      const text = await blobText('queue-results', 'job-1.json');
      return text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
    });
    expect(result).toMatchObject({ message: { jobId: 'job-1', size: 3 }, dequeueCount: 1, hasPopReceipt: true, queueTrigger: { jobId: 'job-1', size: 3 } });
    expect(typeof result['id']).toBe('string');
    for (const key of ['insertionTime', 'expirationTime', 'nextVisibleTime']) expect(Number.isNaN(Date.parse(String(result[key])))).toBe(false);
  });

  it('sends one message per array element, and takes messages other producers wrote base64', async () => {
    await fetch(`${host.url}/api/enqueue`, { method: 'POST', body: JSON.stringify([{ jobId: 'job-2' }, { jobId: 'job-3' }]) });
    await queues.getQueueClient('work-items').sendMessage(encodeQueueMessage(JSON.stringify({ jobId: 'job-4' }), 'base64'));
    for (const id of ['job-2', 'job-3', 'job-4']) {
      await waitFor(`queue-results/${id}.json`, async () => ((await blobText('queue-results', `${id}.json`)) ? true : undefined));
    }
  });

  it('moves a message to <queue>-poison after maxDequeueCount (5) failed deliveries', async () => {
    const fragile = queues.getQueueClient('fragile-items');
    await fragile.createIfNotExists();
    const text = encodeQueueMessage('poison me', 'base64');
    await fragile.sendMessage(text);
    const poisoned = await waitFor('a poison message', async () => {
      try {
        return (await queues.getQueueClient('fragile-items-poison').peekMessages()).peekedMessageItems[0];
      } catch {
        return undefined;
      }
    });
    expect(poisoned.messageText).toBe(text);
    expect(lines.filter((l) => l.includes("Executed 'onFragileItem' (Failed"))).toHaveLength(5);
    expect((await fragile.peekMessages()).peekedMessageItems).toHaveLength(0);
  });

  it('moves a message that is not base64 to the poison queue with a warning', async () => {
    const queue = queues.getQueueClient('work-items');
    await queue.sendMessage('not base64 at all!');
    const poisoned = await waitFor('work-items-poison', async () => {
      try {
        return (await queues.getQueueClient('work-items-poison').peekMessages()).peekedMessageItems[0];
      } catch {
        return undefined;
      }
    });
    expect(poisoned.messageText).toBe('not base64 at all!');
    expect(lines.some((l) => l.startsWith('warn:') && l.includes('is not valid base64'))).toBe(true);
  });
});
