import type { ChatMessage } from '../model/model-client.js';
import type { TenantBlobSpace } from '../storage/blob-store.js';

/**
 * A run's conversation in the tenant's blob space, one blob per message:
 * `runs/{runId}/conversation/{seq}.json`. Only the `callModel` activity writes it (tools return
 * their results to the orchestrator), so there is one writer per run. Writing message `seq`
 * is idempotent: a retried activity rewrites nothing.
 *
 * Messages never change once written, so each process keeps the ones it has seen and a turn
 * reads only the new ones from Blob (without this, turn N re-read all N earlier messages). A
 * message is cached only as it stands in Blob: one this process wrote, or one it read back.
 */
const seenByRun = new Map<string, (ChatMessage | undefined)[]>();
const RUNS_KEPT = 200;

function seenFor(key: string): (ChatMessage | undefined)[] {
  let seen = seenByRun.get(key);
  if (seen) {
    // Refresh its place in the (insertion-ordered) map: least recently used runs go first.
    seenByRun.delete(key);
  } else {
    seen = [];
    if (seenByRun.size >= RUNS_KEPT) seenByRun.delete(seenByRun.keys().next().value as string);
  }
  seenByRun.set(key, seen);
  return seen;
}

export class ConversationStore {
  readonly #seen: (ChatMessage | undefined)[];

  constructor(private readonly blobs: TenantBlobSpace, private readonly runId: string) {
    this.#seen = seenFor(`${blobs.tenantId}/${runId}`);
  }

  #path(seq: number): string {
    return `runs/${this.runId}/conversation/${String(seq).padStart(6, '0')}.json`;
  }

  /** Writes `messages` at positions `from`, `from + 1`, ...; returns the new length. */
  async append(from: number, messages: readonly ChatMessage[]): Promise<number> {
    await Promise.all(
      messages.map(async (m, i) => {
        const written = await this.blobs.put(this.#path(from + i), JSON.stringify(m), { contentType: 'application/json', ifNoneMatch: true });
        // An earlier attempt may have written a different message at this position: Blob wins.
        this.#seen[from + i] = written.created ? m : undefined;
      }),
    );
    return from + messages.length;
  }

  /** Reads messages `0 .. count-1` in order. */
  async read(count: number): Promise<ChatMessage[]> {
    return Promise.all(
      Array.from({ length: count }, async (_v, seq) => {
        const known = this.#seen[seq];
        if (known) return known;
        const content = await this.blobs.get(this.#path(seq));
        if (!content) throw new Error(`conversation message ${seq} of run ${this.runId} is missing`);
        const message = JSON.parse(content.toString('utf8')) as ChatMessage;
        this.#seen[seq] = message;
        return message;
      }),
    );
  }
}
