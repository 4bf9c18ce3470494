import { AppError } from '../errors.js';

/**
 * The contract every model adapter implements (real: `openai-model-client.ts`; fake:
 * `scripted-model-client.ts`). All types here are plain JSON: requests and responses travel
 * through Durable activity payloads, so no classes, dates, Maps or undefined-vs-missing tricks.
 */

/** One tool call the model asked for. */
export interface ToolCall {
  /** Opaque id chosen by the model service; echoed back in the matching `tool` message. */
  id: string;
  name: string;
  /** The arguments as JSON text, exactly as the model produced them (may be invalid JSON). */
  arguments: string;
}

/** One message of a conversation, in the provider-neutral shape the runtime stores. */
export type ChatMessage =
  | { role: 'system'; content: string }
  | { role: 'user'; content: string }
  | { role: 'assistant'; content: string | null; toolCalls?: ToolCall[] }
  | { role: 'tool'; toolCallId: string; content: string };

/** A function the model may call. `parameters` is a JSON Schema describing an object. */
export interface ChatTool {
  name: string;
  description: string;
  parameters: Record<string, unknown>;
}

/** One chat-completion request to one deployment. */
export interface ChatRequest {
  /** Deployment (Azure) or model name (OpenAI-compatible) to call. */
  deployment: string;
  messages: ChatMessage[];
  tools?: ChatTool[];
  /** Sampling temperature, 0–2. Omitted: the service default. */
  temperature?: number;
  /** Upper bound on generated tokens for this call. Omitted: the service default. */
  maxOutputTokens?: number;
}

/** Why the model stopped. */
export type FinishReason = 'stop' | 'tool_calls' | 'length' | 'content_filter';

/** Token counts as reported by the service. */
export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
}

/** The model's answer to one {@link ChatRequest}. */
export interface ChatResponse {
  /** `content` is null when the model only asked for tools; `toolCalls` is empty when it did not. */
  message: { content: string | null; toolCalls: ToolCall[] };
  finishReason: FinishReason;
  usage: TokenUsage;
  /** The model that answered as the service names it (e.g. `gpt-4o-2024-08-06`), not the deployment. */
  model: string;
  /** The service's id of this completion (`chatcmpl-...`), when it gave one. */
  id?: string;
}

/** Per-call options. */
export interface ModelCallOptions {
  /** Aborts the call; an adapter then rejects with a `ModelCallError` of code `aborted`. */
  signal?: AbortSignal;
  /**
   * Upper bound on this one HTTP call, in milliseconds. Adapters must enforce it themselves and
   * reject with code `timeout`; the gateway does not race calls against its own timer.
   */
  timeoutMs: number;
}

/**
 * A model endpoint. Implementations make exactly one attempt per call: no internal retries
 * (retry lives in one layer, the model gateway). Failures reject with a {@link ModelCallError};
 * anything else they throw is a bug and the gateway lets it propagate untouched.
 */
export interface ModelClient {
  complete(request: ChatRequest, options: ModelCallOptions): Promise<ChatResponse>;
}

/**
 * Failure codes.
 * - `rate_limited` (429), `server_error` (5xx or endpoint unreachable), `timeout`: retryable; the
 *   gateway falls back to the next deployment.
 * - `bad_request` (400 and other 4xx), `auth_failed` (401/403, token acquisition), `content_filter`
 *   (the prompt was blocked): not retryable; the gateway fails at once.
 * - `aborted`: the caller's signal fired; never retried.
 * - `all_deployments_failed`: raised by the gateway only, when every deployment failed with a
 *   retryable error or had an open circuit. Retryable later (see `shared/model/README.md`).
 * - `capacity_exceeded`: raised by the gateway only, when this process already has its maximum of
 *   model calls in flight; nothing was sent. Retryable later (`retryAfterMs`).
 */
export type ModelCallErrorCode =
  'rate_limited' | 'server_error' | 'timeout' | 'bad_request' | 'auth_failed' | 'content_filter' | 'aborted' | 'all_deployments_failed' | 'capacity_exceeded';

/** How one attempt inside a gateway call ended. `circuit_open` means it was skipped, not sent. */
export type AttemptOutcome = 'ok' | 'circuit_open' | Exclude<ModelCallErrorCode, 'all_deployments_failed' | 'capacity_exceeded'>;

/** One attempt the gateway made (or skipped) during a call. JSON-serialisable. */
export interface ModelAttempt {
  deployment: string;
  outcome: AttemptOutcome;
  /** The endpoint's HTTP status, when it answered. */
  status?: number;
  /** Wall time of the attempt in milliseconds (0 for a skipped deployment). */
  latencyMs: number;
  /** The wait the endpoint asked for (Retry-After), in milliseconds, when it sent one. */
  retryAfterMs?: number;
}

const RETRYABLE_CODES: ReadonlySet<ModelCallErrorCode> = new Set(['rate_limited', 'server_error', 'timeout', 'all_deployments_failed', 'capacity_exceeded']);

const DEFAULT_STATUS: Readonly<Record<ModelCallErrorCode, number>> = {
  rate_limited: 429,
  server_error: 502,
  timeout: 504,
  bad_request: 400,
  auth_failed: 401,
  content_filter: 400,
  // Client closed request (nginx convention); the caller gave up, nobody reads this response.
  aborted: 499,
  all_deployments_failed: 503,
  capacity_exceeded: 503,
};

/** The plain-data form of a {@link ModelCallError} (what `toJSON` returns). */
export interface ModelCallErrorShape {
  name: 'ModelCallError';
  code: ModelCallErrorCode;
  status: number;
  retryable: boolean;
  message: string;
  deployment: string;
  endpointStatus?: number;
  retryAfterMs?: number;
  attempts?: ModelAttempt[];
}

/** Constructor input for {@link ModelCallError}. */
export interface ModelCallErrorInit {
  code: ModelCallErrorCode;
  /** Deployment that failed; for `all_deployments_failed`, the tried deployments joined by `,`. */
  deployment: string;
  message: string;
  /** The endpoint's HTTP status, only when it answered (not for timeouts, aborts, unreachable endpoints). */
  endpointStatus?: number;
  /** The wait the service asked for, in milliseconds (from `retry-after-ms` / `Retry-After`). */
  retryAfterMs?: number;
  /** Attempts made before failing (set by the gateway). */
  attempts?: ModelAttempt[];
  cause?: unknown;
}

/**
 * A model call failed. Match on `name === 'ModelCallError'` and `code`, never `instanceof`:
 * across the Durable activity boundary only `{name, message}` survive, so the message always
 * starts with the code (`"rate_limited: ..."`) and names the deployment.
 */
export class ModelCallError extends AppError {
  override readonly name = 'ModelCallError';
  declare readonly code: ModelCallErrorCode;
  readonly deployment: string;
  /** The endpoint's HTTP status when it answered. `status` equals it then, else a default per code. */
  readonly endpointStatus?: number;
  readonly retryAfterMs?: number;
  readonly attempts?: ModelAttempt[];

  constructor(init: ModelCallErrorInit) {
    super(init.code, init.endpointStatus ?? DEFAULT_STATUS[init.code], `${init.code}: ${init.message}`, {
      retryable: RETRYABLE_CODES.has(init.code),
      cause: init.cause,
    });
    this.deployment = init.deployment;
    if (init.endpointStatus !== undefined) this.endpointStatus = init.endpointStatus;
    if (init.retryAfterMs !== undefined) this.retryAfterMs = init.retryAfterMs;
    if (init.attempts !== undefined) this.attempts = init.attempts;
  }

  /** Plain data, so `JSON.stringify(error)` keeps everything a caller may match on. */
  toJSON(): ModelCallErrorShape {
    return {
      name: this.name,
      code: this.code,
      status: this.status,
      retryable: this.retryable,
      message: this.message,
      deployment: this.deployment,
      ...(this.endpointStatus === undefined ? {} : { endpointStatus: this.endpointStatus }),
      ...(this.retryAfterMs === undefined ? {} : { retryAfterMs: this.retryAfterMs }),
      ...(this.attempts === undefined ? {} : { attempts: this.attempts }),
    };
  }
}

const ALL_CODES: ReadonlySet<string> = new Set(Object.keys(DEFAULT_STATUS));

/** True for a {@link ModelCallError} or its plain-data form, whatever its prototype. */
export function isModelCallError(value: unknown): value is ModelCallErrorShape {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return v['name'] === 'ModelCallError' && typeof v['code'] === 'string' && ALL_CODES.has(v['code']);
}

/**
 * Reads the code back from an error that crossed the activity boundary as `{name, message}`.
 * Returns undefined when `value` is not a model call error.
 */
export function modelCallErrorCodeOf(value: unknown): ModelCallErrorCode | undefined {
  if (isModelCallError(value)) return value.code;
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (v['name'] !== 'ModelCallError' || typeof v['message'] !== 'string') return undefined;
  const code = /^([a-z_]+):/.exec(v['message'])?.[1];
  return code !== undefined && ALL_CODES.has(code) ? (code as ModelCallErrorCode) : undefined;
}
