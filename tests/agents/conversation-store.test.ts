import { describe, expect, it } from 'vitest';
import { ConversationStore } from '../../shared/agent-runtime/conversation-store.js';
import { TenantBlobSpace } from '../../shared/storage/blob-store.js';
import { MemoryBlobStore } from '../../shared/storage/memory-blob-store.js';

class CountingBlobStore extends MemoryBlobStore {
  gets = 0;
  override async get(path: string): Promise<Buffer | undefined> {
    this.gets += 1;
    return super.get(path);
  }
}

describe('conversation store', () => {
  it('reads each message from Blob at most once per process', async () => {
    const blobs = new CountingBlobStore();
    const space = new TenantBlobSpace(blobs, 'contoso');
    const writer = new ConversationStore(space, 'run-a');
    await writer.append(0, [
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'hello' },
    ]);
    expect(await writer.read(2)).toEqual([
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'hello' },
    ]);
    expect(blobs.gets).toBe(0);

    // Another process (a fresh cache for another run id here) reads from Blob once, then not again.
    const other = new TenantBlobSpace(blobs, 'contoso');
    await other.put('runs/run-b/conversation/000000.json', JSON.stringify({ role: 'user', content: 'from blob' }));
    const reader = new ConversationStore(other, 'run-b');
    expect(await reader.read(1)).toEqual([{ role: 'user', content: 'from blob' }]);
    expect(await new ConversationStore(other, 'run-b').read(1)).toEqual([{ role: 'user', content: 'from blob' }]);
    expect(blobs.gets).toBe(1);
  });

  it('keeps what Blob holds when a retried write finds the position taken', async () => {
    const blobs = new CountingBlobStore();
    const space = new TenantBlobSpace(blobs, 'contoso');
    await space.put('runs/run-c/conversation/000000.json', JSON.stringify({ role: 'assistant', content: 'first attempt' }));
    const store = new ConversationStore(space, 'run-c');
    await store.append(0, [{ role: 'assistant', content: 'retry' }]);
    expect(await store.read(1)).toEqual([{ role: 'assistant', content: 'first attempt' }]);
  });
});
