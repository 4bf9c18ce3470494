import type { ChatMessage } from '../model/model-client.js';
import type { TenantBlobSpace } from '../storage/blob-store.js';

/**
 * A run's conversation in the tenant's blob space, one blob per message:
 * `runs/{runId}/conversation/{seq}.json`. Only the `callModel` activity writes it (tools return
 * their results to the orchestrator), so there is one writer per run. Writing message `seq`
 * is idempotent: a retried activity rewrites nothing.
 */
export class ConversationStore {
  constructor(private readonly blobs: TenantBlobSpace, private readonly runId: string) {}

  #path(seq: number): string {
    return `runs/${this.runId}/conversation/${String(seq).padStart(6, '0')}.json`;
  }

  /** Writes `messages` at positions `from`, `from + 1`, ...; returns the new length. */
  async append(from: number, messages: readonly ChatMessage[]): Promise<number> {
    await Promise.all(
      messages.map((m, i) => this.blobs.put(this.#path(from + i), JSON.stringify(m), { contentType: 'application/json', ifNoneMatch: true })),
    );
    return from + messages.length;
  }

  /** Reads messages `0 .. count-1` in order. */
  async read(count: number): Promise<ChatMessage[]> {
    const texts = await Promise.all(
      Array.from({ length: count }, async (_v, seq) => {
        const content = await this.blobs.get(this.#path(seq));
        if (!content) throw new Error(`conversation message ${seq} of run ${this.runId} is missing`);
        return JSON.parse(content.toString('utf8')) as ChatMessage;
      }),
    );
    return texts;
  }
}
