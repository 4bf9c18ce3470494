import {
  Activities,
  type ActivityDef,
  type CallModelInput,
  type CallModelOutput,
  type PrepareRunInput,
  type RunEventInput,
  type RunToolInput,
} from '../../shared/agent-runtime/activity-catalog.js';
import type { ToolOutcome, Usage } from '../../shared/agent-runtime/run-types.js';
import type { BatchRunInput, BatchSummaryInput, PrepareBatchOutput } from '../../shared/batch/batch-types.js';
import type { BotReplyInput, BotTypingInput } from '../../shared/bot/bot-types.js';
import type { PublishRunReplyInput, PublishRunReplyOutput } from '../../shared/queue/reply-types.js';

/**
 * Fake activities for the orchestrator tests (tests/orchestrators/): the test scripts what each
 * activity returns, throws or waits for, and reads back what was called. The test app
 * (tests/orchestrators/app/register.ts) registers them next to the real orchestrators.
 *
 * The model is scripted per run id and fails loudly when a run asks for a turn nobody scripted
 * (CONVENTIONS.md 9). Everything else has a harmless default. State is process-wide (one test
 * file per process under vitest's `forks` pool) and reset with {@link FakeActivities.reset}.
 */

/** One scripted model turn. */
export type ModelStep =
  | { answer: string; usage?: Partial<Usage> }
  | { tools: { name: string; args?: unknown; id?: string }[]; usage?: Partial<Usage> }
  /** The gateway's outage advice (`CallModelOutput.retry`). */
  | { retry: { afterMs: number; code?: string } }
  /** A non-retryable failure, returned as data (`CallModelOutput.failure`). */
  | { failure: { code: string; message: string } }
  /** The activity throws (a Durable retry, then a failed run once attempts are spent). */
  | { throws: string };

export type ModelScript = (ModelStep | ((input: CallModelInput) => ModelStep))[];

/** What a tool does with one attempt (1-based): a result (JSON-able), a throw, or a wait. */
export type ToolBehavior = (input: RunToolInput, attempt: number) => unknown;

export interface ActivityCall {
  activity: string;
  input: unknown;
}

const DEFAULT_USAGE: Usage = { inputTokens: 10, outputTokens: 5, modelCalls: 1 };

class Signal<T> {
  readonly #waiters: { match: (value: T) => boolean; resolve: (value: T) => void }[] = [];
  readonly seen: T[] = [];

  emit(value: T): void {
    this.seen.push(value);
    for (const w of [...this.#waiters]) {
      if (w.match(value)) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        w.resolve(value);
      }
    }
  }

  /** Resolves with the first value (already seen, or to come) that matches. */
  next(match: (value: T) => boolean, what: string, timeoutMs = 10_000): Promise<T> {
    const earlier = this.seen.find(match);
    if (earlier !== undefined) return Promise.resolve(earlier);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`fake activities: no ${what} within ${timeoutMs} ms`)), timeoutMs);
      this.#waiters.push({
        match,
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value);
        },
      });
    });
  }

  clear(): void {
    this.seen.length = 0;
  }
}

export class FakeActivities {
  readonly #models = new Map<string, ModelScript>();
  readonly #tools = new Map<string, ToolBehavior>();
  readonly #attempts = new Map<string, number>();
  #releases: (() => void)[] = [];
  /** Every invocation, in order. */
  readonly calls: ActivityCall[] = [];
  /** Every `recordRunEvent`, in order; `events.next(...)` waits for one. */
  readonly events = new Signal<RunEventInput>();
  /** Every tool attempt as it starts; `toolStarts.next(...)` waits for one. */
  readonly toolStarts = new Signal<RunToolInput>();
  prepareBatch: (input: BatchRunInput) => PrepareBatchOutput = () => {
    throw new Error('fake activities: prepareBatch is not scripted');
  };
  botSendTyping: (input: BotTypingInput) => void = () => {};
  botPostReply: (input: BotReplyInput) => { delivered: boolean; status: number } = () => ({ delivered: true, status: 200 });
  publishRunReply: (input: PublishRunReplyInput) => PublishRunReplyOutput = () => ({ published: true });

  reset(): void {
    this.releaseAll();
    this.#models.clear();
    this.#tools.clear();
    this.#attempts.clear();
    this.calls.length = 0;
    this.events.clear();
    this.toolStarts.clear();
    const fresh = new FakeActivities();
    this.prepareBatch = fresh.prepareBatch;
    this.botSendTyping = fresh.botSendTyping;
    this.botPostReply = fresh.botPostReply;
    this.publishRunReply = fresh.publishRunReply;
  }

  /** The model turns of run `runId`, in order. */
  model(runId: string, script: ModelScript): void {
    this.#models.set(runId, [...script]);
  }

  tool(name: string, behavior: ToolBehavior): void {
    this.#tools.set(name, behavior);
  }

  /** A promise that settles only at {@link releaseAll} (a tool that never answers in time). */
  hang(): Promise<unknown> {
    return new Promise((resolve) => this.#releases.push(() => resolve({ released: true })));
  }

  /** Lets every {@link hang} finish, so the engine can stop without waiting for them. */
  releaseAll(): void {
    const releases = this.#releases;
    this.#releases = [];
    for (const release of releases) release();
  }

  /** Attempts of tool call `callId` in run `runId`. */
  attempts(runId: string, callId: string): number {
    return this.#attempts.get(`${runId}/${callId}`) ?? 0;
  }

  /** The inputs of every call of `activity`, optionally only those of run `runId`. */
  inputsOf<I>(activity: ActivityDef<I, unknown>, runId?: string): I[] {
    const runOf = (input: unknown): string | undefined => {
      const i = input as { runId?: string; run?: { runId?: string } };
      return i.runId ?? i.run?.runId;
    };
    return this.calls.filter((c) => c.activity === activity.name && (runId === undefined || runOf(c.input) === runId)).map((c) => c.input as I);
  }

  /** Run events of `runId`, by type. */
  eventTypes(runId: string): string[] {
    return this.events.seen.filter((e) => e.runId === runId).map((e) => e.type);
  }

  // ---- the activities --------------------------------------------------------------------

  callModelActivity = (input: CallModelInput): CallModelOutput => {
    this.calls.push({ activity: Activities.callModel.name, input });
    const script = this.#models.get(input.runId);
    const next = script?.shift();
    if (!next) throw new Error(`fake model: run ${input.runId} asked for turn ${input.turn}, but no turn is scripted (fails loudly, CONVENTIONS.md 9)`);
    const step = typeof next === 'function' ? next(input) : next;
    const messageCount = input.messageCount + (input.userInput ? 1 : 0) + input.toolOutcomes.length + 1;
    const base = { messageCount, usage: { ...DEFAULT_USAGE }, toolCalls: [], deployment: 'fake', fallbackTaken: false };
    if ('throws' in step) throw new Error(step.throws);
    if ('retry' in step)
      return {
        ...base,
        messageCount: input.messageCount,
        usage: { inputTokens: 0, outputTokens: 0, modelCalls: 0 },
        retry: { afterMs: step.retry.afterMs, code: step.retry.code ?? 'throttled', message: 'every deployment is throttled' },
      };
    if ('failure' in step) return { ...base, failure: step.failure };
    const usage = { ...DEFAULT_USAGE, ...step.usage };
    if ('answer' in step) return { ...base, usage, answer: { inline: step.answer } };
    return {
      ...base,
      usage,
      toolCalls: step.tools.map((t, i) => ({ id: t.id ?? `call-${input.turn}-${i}`, name: t.name, arguments: { inline: JSON.stringify(t.args ?? {}) } })),
    };
  };

  runToolActivity = async (input: RunToolInput): Promise<ToolOutcome> => {
    this.calls.push({ activity: Activities.runTool.name, input });
    const key = `${input.runId}/${input.call.id}`;
    const attempt = (this.#attempts.get(key) ?? 0) + 1;
    this.#attempts.set(key, attempt);
    this.toolStarts.emit(input);
    const behavior = this.#tools.get(input.call.name);
    const result = behavior ? await behavior(input, attempt) : { echo: input.call.arguments };
    return { callId: input.call.id, name: input.call.name, status: 'ok', content: { inline: JSON.stringify(result) }, attempts: attempt };
  };

  prepareRunActivity = (input: PrepareRunInput): { agent: { id: string; version: number; contentHash: string } } => {
    this.calls.push({ activity: Activities.prepareRun.name, input });
    const d = input.run.agent;
    return { agent: { id: d.definition.id, version: d.definition.version, contentHash: d.contentHash } };
  };

  recordRunEventActivity = (input: RunEventInput): void => {
    this.calls.push({ activity: Activities.recordRunEvent.name, input });
    this.events.emit(input);
  };

  prepareBatchActivity = (input: BatchRunInput): PrepareBatchOutput => {
    this.calls.push({ activity: Activities.prepareBatch.name, input });
    return this.prepareBatch(input);
  };

  writeBatchSummaryActivity = (input: BatchSummaryInput): { path: string } => {
    this.calls.push({ activity: Activities.writeBatchSummary.name, input });
    return { path: `batches/${input.scheduleId}/${input.batchId}.json` };
  };

  botSendTypingActivity = (input: BotTypingInput): void => {
    this.calls.push({ activity: Activities.botSendTyping.name, input });
    this.botSendTyping(input);
  };

  botPostReplyActivity = (input: BotReplyInput): { delivered: boolean; status: number } => {
    this.calls.push({ activity: Activities.botPostReply.name, input });
    return this.botPostReply(input);
  };

  publishRunReplyActivity = (input: PublishRunReplyInput): PublishRunReplyOutput => {
    this.calls.push({ activity: Activities.publishRunReply.name, input });
    return this.publishRunReply(input);
  };
}

/**
 * The one instance the test app registers and the tests drive. Kept on `globalThis` so the app
 * entry and the test see the same object however their modules are instantiated.
 */
export function fakeActivities(): FakeActivities {
  const holder = globalThis as unknown as { __orchestratorFakes?: FakeActivities };
  holder.__orchestratorFakes ??= new FakeActivities();
  return holder.__orchestratorFakes;
}
