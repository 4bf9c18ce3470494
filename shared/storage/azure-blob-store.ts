import type { TokenCredential } from '@azure/identity';
import { BlobServiceClient, type ContainerClient, type StoragePipelineOptions } from '@azure/storage-blob';
import { ServiceUnavailableError } from '../http/http-errors.js';
import type { BlobStore, ListOptions } from './blob-store.js';

export type BlobStoreConnection =
  /** Azure: identity-based (managed identity via DefaultAzureCredential); shared keys stay disabled. */
  | { kind: 'identity'; accountUrl: string; container: string; credential: TokenCredential }
  /** Local only: Azurite's well-known development connection (`UseDevelopmentStorage=true`) or an explicit one. */
  | { kind: 'connection-string'; connectionString: string; container: string };

function statusOf(error: unknown): number | undefined {
  const e = error as { name?: unknown; statusCode?: unknown };
  return e?.name === 'RestError' && typeof e.statusCode === 'number' ? e.statusCode : undefined;
}

/**
 * The SDK's retry policy for one store. Activities keep the SDK default (Durable retries on top
 * are cheap there); request paths use a short, bounded one so a storage outage answers 503
 * within seconds instead of after the default ~16 s of retries.
 */
export interface BlobRetryPolicy {
  maxTries: number;
  tryTimeoutInMs: number;
  retryDelayInMs: number;
  maxRetryDelayInMs: number;
}

/** For HTTP request paths: two tries, 5 s each at most. */
export const REQUEST_PATH_RETRY: BlobRetryPolicy = { maxTries: 2, tryTimeoutInMs: 5_000, retryDelayInMs: 200, maxRetryDelayInMs: 1_000 };

/** The store could not be reached or failed on its side (no answer, 408, 5xx): a 503 worth retrying. */
function unavailable(error: unknown): unknown {
  const status = statusOf(error);
  const e = error as { name?: unknown };
  const transport = status === undefined && (e?.name === 'RestError' || e?.name === 'AbortError' || e?.name === 'TypeError');
  if (transport || status === 408 || (status !== undefined && status >= 500)) {
    return new ServiceUnavailableError('storage_unavailable', 'The blob store cannot be reached right now; retry shortly.', 5, error);
  }
  return error;
}

/** {@link BlobStore} over Azure Blob Storage (`@azure/storage-blob`). */
export class AzureBlobStore implements BlobStore {
  readonly #container: ContainerClient;
  #ensured: Promise<unknown> | undefined;

  constructor(connection: BlobStoreConnection, retry?: BlobRetryPolicy) {
    const pipeline: StoragePipelineOptions = retry ? { retryOptions: retry } : {};
    const service =
      connection.kind === 'identity'
        ? new BlobServiceClient(connection.accountUrl, connection.credential, pipeline)
        : BlobServiceClient.fromConnectionString(connection.connectionString, pipeline);
    this.#container = service.getContainerClient(connection.container);
  }

  /** Creates the container once per process (local runs; in Azure infra creates it). */
  #ensure(): Promise<unknown> {
    this.#ensured ??= this.#container.createIfNotExists().catch((error: unknown) => {
      this.#ensured = undefined;
      throw error;
    });
    return this.#ensured;
  }

  put(path: string, content: string | Uint8Array, options: { contentType?: string; ifNoneMatch?: boolean } = {}) {
    return this.#put(path, content, options).catch((error: unknown) => Promise.reject(unavailable(error)));
  }

  async #put(path: string, content: string | Uint8Array, options: { contentType?: string; ifNoneMatch?: boolean }) {
    await this.#ensure();
    const body = typeof content === 'string' ? Buffer.from(content) : content;
    const blob = this.#container.getBlockBlobClient(path);
    try {
      const result = await blob.upload(body, body.byteLength, {
        blobHTTPHeaders: { blobContentType: options.contentType ?? 'application/octet-stream' },
        ...(options.ifNoneMatch ? { conditions: { ifNoneMatch: '*' } } : {}),
      });
      return { etag: result.etag ?? '', created: true };
    } catch (error) {
      if (options.ifNoneMatch && (statusOf(error) === 409 || statusOf(error) === 412)) {
        const props = await blob.getProperties();
        return { etag: props.etag ?? '', created: false };
      }
      throw error;
    }
  }

  get(path: string): Promise<Buffer | undefined> {
    return this.#get(path).catch((error: unknown) => Promise.reject(unavailable(error)));
  }

  async #get(path: string): Promise<Buffer | undefined> {
    await this.#ensure();
    try {
      return await this.#container.getBlobClient(path).downloadToBuffer();
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  list(prefix: string, limit = 1000, options: ListOptions = {}) {
    return this.#list(prefix, limit, options).catch((error: unknown) => Promise.reject(unavailable(error)));
  }

  async #list(prefix: string, limit: number, options: ListOptions) {
    await this.#ensure();
    const { startAfter } = options;
    if (startAfter === undefined) return this.#listFrom(prefix, limit, undefined, false);
    try {
      // `startFrom` (a full blob name, inclusive) lets the service skip ahead.
      return await this.#listFrom(prefix, limit, startAfter, true);
    } catch (error) {
      // A service version or account that refuses `startFrom`: list from the start instead.
      if (statusOf(error) !== 400) throw error;
      return this.#listFrom(prefix, limit, startAfter, false);
    }
  }

  async #listFrom(prefix: string, limit: number, startAfter: string | undefined, useStartFrom: boolean) {
    const out: { path: string; size: number; lastModified: string }[] = [];
    for await (const item of this.#container.listBlobsFlat({ prefix, ...(useStartFrom && startAfter !== undefined ? { startFrom: startAfter } : {}) })) {
      // Names up to `startAfter` are skipped here too, for a service or emulator that ignores `startFrom`.
      if (startAfter !== undefined && item.name <= startAfter) continue;
      out.push({ path: item.name, size: item.properties.contentLength ?? 0, lastModified: item.properties.lastModified.toISOString() });
      if (out.length >= limit) break;
    }
    return out;
  }

  async delete(path: string): Promise<boolean> {
    try {
      await this.#ensure();
      const result = await this.#container.getBlobClient(path).deleteIfExists();
      return result.succeeded;
    } catch (error) {
      throw unavailable(error);
    }
  }
}
