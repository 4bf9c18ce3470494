import type { ChatMessage } from '../model/model-client.js';
import type { TenantBlobSpace } from '../storage/blob-store.js';

/**
 * What one model call produced besides its message, stored with the message so a re-run of the
 * step reports exactly what the first run did (see {@link ConversationStore.recordAnswer}).
 */
export interface ModelStepRecord {
  inputTokens: number;
  outputTokens: number;
  deployment: string;
  fallbackTaken: boolean;
  finishReason: string;
  model: string;
}

export type AssistantMessage = Extract<ChatMessage, { role: 'assistant' }>;

/** An assistant message with the step that produced it. */
export interface StoredAnswer {
  message: AssistantMessage;
  step: ModelStepRecord;
}

/** A message the orchestration has already moved past is missing from Blob. Not retryable. */
export class ConversationLostError extends Error {
  override readonly name = 'ConversationLostError';
  readonly code = 'conversation_lost';
  readonly retryable = false;
  constructor(
    readonly runId: string,
    readonly seq: number,
  ) {
    super(`conversation message ${seq} of run ${runId} is missing from the blob store; the run cannot continue consistently`);
  }
}

/** On-blob shape: the chat message, plus `step` on assistant answers. */
type StoredMessage = ChatMessage & { step?: ModelStepRecord };

/**
 * A run's conversation in the tenant's blob space, one blob per message:
 * `runs/{runId}/conversation/{seq}.json`. Only the `callModel` activity writes it (tools return
 * their results to the orchestrator), so there is one writer per run. Every position is written
 * with if-none-match: the first write wins and is the only truth for that position.
 *
 * Messages never change once written, so each process keeps the ones it has seen and a turn
 * reads only the new ones from Blob (without this, turn N re-read all N earlier messages). A
 * message is cached only as it stands in Blob: one this process wrote, or one it read back.
 */
const seenByRun = new Map<string, (StoredMessage | undefined)[]>();
const RUNS_KEPT = 200;

function seenFor(key: string): (StoredMessage | undefined)[] {
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

function withoutStep(stored: StoredMessage): ChatMessage {
  if (stored.step === undefined) return stored;
  const { step: _step, ...message } = stored;
  return message;
}

export class ConversationStore {
  readonly #seen: (StoredMessage | undefined)[];

  constructor(
    private readonly blobs: TenantBlobSpace,
    private readonly runId: string,
  ) {
    this.#seen = seenFor(`${blobs.tenantId}/${runId}`);
  }

  #path(seq: number): string {
    return `runs/${this.runId}/conversation/${String(seq).padStart(6, '0')}.json`;
  }

  async #write(seq: number, message: StoredMessage): Promise<boolean> {
    const written = await this.blobs.put(this.#path(seq), JSON.stringify(message), { contentType: 'application/json', ifNoneMatch: true });
    // An earlier attempt may have written a different message at this position: Blob wins.
    this.#seen[seq] = written.created ? message : undefined;
    return written.created;
  }

  async #load(seq: number): Promise<StoredMessage | undefined> {
    const known = this.#seen[seq];
    if (known) return known;
    const content = await this.blobs.get(this.#path(seq));
    if (!content) return undefined;
    const message = JSON.parse(content.toString('utf8')) as StoredMessage;
    this.#seen[seq] = message;
    return message;
  }

  /** Writes `messages` at positions `from`, `from + 1`, ...; returns the new length. */
  async append(from: number, messages: readonly ChatMessage[]): Promise<number> {
    await Promise.all(messages.map((m, i) => this.#write(from + i, m)));
    return from + messages.length;
  }

  /**
   * Reads messages `0 .. count-1` in order. A missing one means the blob store lost what the
   * orchestration already relied on (for example Azurite killed before it saved): that is a
   * {@link ConversationLostError}, never a silently shorter conversation.
   */
  async read(count: number): Promise<ChatMessage[]> {
    return Promise.all(
      Array.from({ length: count }, async (_v, seq) => {
        const message = await this.#load(seq);
        if (!message) throw new ConversationLostError(this.runId, seq);
        return withoutStep(message);
      }),
    );
  }

  /** The model answer stored at `seq` by an earlier run of the same step, if any. */
  async answerAt(seq: number): Promise<StoredAnswer | undefined> {
    const stored = await this.#load(seq);
    if (!stored || stored.role !== 'assistant' || stored.step === undefined) return undefined;
    return { message: withoutStep(stored) as AssistantMessage, step: stored.step };
  }

  /**
   * Records the model's answer at `seq`, first write wins, and returns the answer that is
   * stored: this one, or the one a concurrent or earlier run of the step stored first. The
   * caller acts on the returned answer only, so the conversation and what the run does agree.
   */
  async recordAnswer(seq: number, answer: StoredAnswer): Promise<StoredAnswer> {
    if (await this.#write(seq, { ...answer.message, step: answer.step })) return answer;
    const winner = await this.answerAt(seq);
    if (!winner) throw new Error(`conversation position ${seq} of run ${this.runId} holds a message that is not a model answer`);
    return winner;
  }
}
