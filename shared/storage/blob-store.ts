import { ValidationError } from '../errors.js';

/** Where a listing resumes: names strictly after `startAfter` (a full path, as a listing returned it). */
export interface ListOptions {
  startAfter?: string;
}

/** Blob storage as the app uses it: whole small objects by path. Paths use `/` separators. */
export interface BlobStore {
  put(path: string, content: string | Uint8Array, options?: { contentType?: string; ifNoneMatch?: boolean }): Promise<{ etag: string; created: boolean }>;
  /** The content, or undefined when the blob does not exist. */
  get(path: string): Promise<Buffer | undefined>;
  /** Blob names under `prefix`, sorted, at most `limit`; with `startAfter`, only names after it. */
  list(prefix: string, limit?: number, options?: ListOptions): Promise<{ path: string; size: number; lastModified: string }[]>;
  delete(path: string): Promise<boolean>;
}

const SAFE_SEGMENT = /^[A-Za-z0-9._-][A-Za-z0-9 ._()-]{0,199}$/;

/** Validates a user- or model-supplied relative path: no `..`, no empty or odd segments. */
export function safeRelativePath(path: string): string {
  const trimmed = path.trim().replace(/^\/+/, '');
  const segments = trimmed.split('/');
  if (trimmed === '' || segments.length > 16 || segments.some((s) => s === '.' || s === '..' || !SAFE_SEGMENT.test(s))) {
    throw new ValidationError(`"${path}" is not an allowed document path`);
  }
  return segments.join('/');
}

/**
 * One tenant's slice of the blob store: every path is placed under `tenants/{tenantId}/`, so
 * code holding a TenantBlobSpace cannot reach another tenant's data.
 */
export class TenantBlobSpace {
  readonly #store: BlobStore;
  readonly #prefix: string;

  constructor(
    store: BlobStore,
    readonly tenantId: string,
  ) {
    if (!/^[a-z0-9][a-z0-9-]{1,62}$/.test(tenantId)) throw new ValidationError(`invalid tenant id "${tenantId}"`);
    this.#store = store;
    this.#prefix = `tenants/${tenantId}/`;
  }

  put(path: string, content: string | Uint8Array, options?: { contentType?: string; ifNoneMatch?: boolean }) {
    return this.#store.put(this.#prefix + safeRelativePath(path), content, options);
  }

  get(path: string): Promise<Buffer | undefined> {
    return this.#store.get(this.#prefix + safeRelativePath(path));
  }

  /** As {@link BlobStore.list}, with tenant-relative paths (also for `startAfter`). */
  async list(prefix: string, limit?: number, options: ListOptions = {}) {
    const cleanPrefix = prefix.trim() === '' ? '' : `${safeRelativePath(prefix)}`;
    const startAfter = options.startAfter === undefined ? {} : { startAfter: this.#prefix + safeRelativePath(options.startAfter) };
    const items = await this.#store.list(this.#prefix + cleanPrefix, limit, startAfter);
    return items.map((i) => ({ ...i, path: i.path.slice(this.#prefix.length) }));
  }

  delete(path: string): Promise<boolean> {
    return this.#store.delete(this.#prefix + safeRelativePath(path));
  }
}
