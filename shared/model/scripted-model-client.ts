import { ModelCallError, type ChatRequest, type ChatResponse, type ModelCallErrorCode, type ModelCallOptions, type ModelClient, type TokenUsage } from './model-client.js';

/**
 * A fake {@link ModelClient} for unit tests: it plays a queue of scripted turns in order and
 * records every request. It never invents an answer: running out of turns throws a loud,
 * non-model error (the gateway lets it through) so a test cannot pass by accident.
 */

/** One scripted turn: an answer, a failure, or a function computing either from the request. */
export type ScriptedTurn = { response: ChatResponse } | { error: unknown } | { respond: (request: ChatRequest, options: ModelCallOptions) => ChatResponse | Promise<ChatResponse> };

/** A request the scripted client received, deep-copied when it arrived. */
export interface RecordedModelCall {
  /** 1-based call number. */
  call: number;
  request: ChatRequest;
  timeoutMs: number;
}

export interface ScriptedModelClient extends ModelClient {
  /** Appends turns to the script. */
  push(...turns: ScriptedTurn[]): void;
  /** Every call so far, in order (including the one that found the script empty). */
  readonly calls: readonly RecordedModelCall[];
  /** Turns not played yet. */
  remaining(): number;
}

/** The script ran out: a test bug (or an unexpected extra model call), never a model failure. */
export class ScriptExhaustedError extends Error {
  override readonly name = 'ScriptExhaustedError';
  readonly code = 'script_exhausted';
  readonly status = 500;
  readonly retryable = false;
}

const DEFAULT_USAGE: TokenUsage = { inputTokens: 10, outputTokens: 5 };

/** A final text answer. */
export function textTurn(content: string, options: { usage?: TokenUsage; model?: string } = {}): ScriptedTurn {
  return {
    response: {
      message: { content, toolCalls: [] },
      finishReason: 'stop',
      usage: options.usage ?? DEFAULT_USAGE,
      model: options.model ?? 'scripted-model',
    },
  };
}

/**
 * The model asks for tools. `arguments` may be an object (serialised here) or raw text (to
 * script invalid JSON). Ids default to `call_<n>` in order within this turn.
 */
export function toolCallsTurn(
  calls: ReadonlyArray<{ name: string; arguments: Record<string, unknown> | string; id?: string }>,
  options: { usage?: TokenUsage; model?: string; content?: string } = {},
): ScriptedTurn {
  return {
    response: {
      message: {
        content: options.content ?? null,
        toolCalls: calls.map((c, i) => ({
          id: c.id ?? `call_${i + 1}`,
          name: c.name,
          arguments: typeof c.arguments === 'string' ? c.arguments : JSON.stringify(c.arguments),
        })),
      },
      finishReason: 'tool_calls',
      usage: options.usage ?? DEFAULT_USAGE,
      model: options.model ?? 'scripted-model',
    },
  };
}

/** A failure as the real adapter would report it (the deployment is filled from the request). */
export function errorTurn(
  code: Exclude<ModelCallErrorCode, 'all_deployments_failed'>,
  options: { endpointStatus?: number; retryAfterMs?: number; message?: string } = {},
): ScriptedTurn {
  return {
    respond: (request) => {
      throw new ModelCallError({
        code,
        deployment: request.deployment,
        message: options.message ?? `scripted ${code}`,
        ...(options.endpointStatus === undefined ? {} : { endpointStatus: options.endpointStatus }),
        ...(options.retryAfterMs === undefined ? {} : { retryAfterMs: options.retryAfterMs }),
      });
    },
  };
}

/** Builds a scripted client that plays `turns` in order. */
export function createScriptedModelClient(turns: readonly ScriptedTurn[] = []): ScriptedModelClient {
  const queue: ScriptedTurn[] = [...turns];
  const calls: RecordedModelCall[] = [];

  return {
    calls,
    push(...more: ScriptedTurn[]): void {
      queue.push(...more);
    },
    remaining: () => queue.length,
    async complete(request: ChatRequest, options: ModelCallOptions): Promise<ChatResponse> {
      const call = calls.length + 1;
      calls.push({ call, request: structuredClone(request), timeoutMs: options.timeoutMs });
      if (options.signal?.aborted) {
        // Not consumed: the turn stays for the next call.
        throw new ModelCallError({ code: 'aborted', deployment: request.deployment, message: 'aborted before the scripted turn' });
      }
      const turn = queue.shift();
      if (turn === undefined) {
        const lastUser = [...request.messages].reverse().find((m) => m.role === 'user');
        throw new ScriptExhaustedError(
          `scripted model ran out of turns at call ${call} (deployment ${request.deployment}` +
            `${lastUser ? `, last user message ${JSON.stringify(lastUser.content.slice(0, 80))}` : ''})`,
        );
      }
      if ('response' in turn) return structuredClone(turn.response);
      if ('error' in turn) throw turn.error;
      return turn.respond(request, options);
    },
  };
}
