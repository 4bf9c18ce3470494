import { createHash } from 'node:crypto';
import type { BlobStore, ListOptions } from './blob-store.js';

/** In-process {@link BlobStore} for unit tests. Not durable. */
export class MemoryBlobStore implements BlobStore {
  readonly blobs = new Map<string, { content: Buffer; lastModified: string }>();

  async put(path: string, content: string | Uint8Array, options: { ifNoneMatch?: boolean } = {}) {
    const existing = this.blobs.get(path);
    const buffer = Buffer.from(content);
    const etag = createHash('md5').update(buffer).digest('hex');
    if (existing && options.ifNoneMatch) return { etag: createHash('md5').update(existing.content).digest('hex'), created: false };
    this.blobs.set(path, { content: buffer, lastModified: new Date().toISOString() });
    return { etag, created: !existing };
  }

  async get(path: string): Promise<Buffer | undefined> {
    return this.blobs.get(path)?.content;
  }

  async list(prefix: string, limit = 1000, options: ListOptions = {}) {
    const { startAfter } = options;
    return [...this.blobs.entries()]
      .filter(([p]) => p.startsWith(prefix) && (startAfter === undefined || p > startAfter))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .slice(0, limit)
      .map(([path, b]) => ({ path, size: b.content.length, lastModified: b.lastModified }));
  }

  async delete(path: string): Promise<boolean> {
    return this.blobs.delete(path);
  }
}
