import type { FunctionMetadata, RegisteredFunction, RpcRetryContext, Invoker, InvocationOutcome, RpcTypedData } from './core-types.js';
import type { DevhostLogger } from './logger.js';

/**
 * Function-level retry policies (`retry` on a trigger's options in `@azure/functions`), as the
 * Functions host applies them (WebJobs `FunctionExecutorExtensions.TryExecuteAsync`):
 *
 * - With a policy, every attempt gets a retry context: the first has `retryCount` 0, each retry
 *   one more, `maxRetryCount` from the policy, and from the second attempt on, the exception of
 *   the attempt before.
 * - An attempt that fails is retried after the policy's delay until `retryCount` reaches
 *   `maxRetryCount` (`-1`: without end); then the failure stands. A host that is shutting down
 *   stops waiting and gives up the retries.
 * - `fixedDelay` waits `delayInterval` each time. `exponentialBackoff` follows WebJobs'
 *   `RandomizedExponentialBackoffStrategy`: the n-th retry waits `minimumInterval` plus
 *   2^(n-1) × `minimumInterval` × a random factor in [0.8, 1.2], at most `maximumInterval`.
 * - In Functions v4 the host honours these policies for timer, Kafka, Event Hubs and Cosmos DB
 *   triggers only (Microsoft Learn, "Azure Functions error handling and retries"); of those the
 *   devhost runs timers. Other triggers have their own redelivery (Service Bus delivery count,
 *   Durable's retry options) and ignore the policy, here as there.
 *
 * `@azure/functions` sends the policy in the function metadata as `retryOptions` with
 * `retryStrategy` and the intervals as `{ seconds }` (rounded to whole seconds by the library).
 */

export type RetryPolicy =
  { strategy: 'fixedDelay'; maxRetryCount: number; delayMs: number } | { strategy: 'exponentialBackoff'; maxRetryCount: number; minimumMs: number; maximumMs: number };

/** The trigger types whose functions the devhost retries by policy. */
export const RETRY_POLICY_TRIGGERS: ReadonlySet<string> = new Set(['timerTrigger']);

function durationMs(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'number') return value;
  if (typeof value === 'object') {
    const { seconds, nanos } = value as { seconds?: unknown; nanos?: unknown };
    const s = typeof seconds === 'number' ? seconds : typeof seconds === 'string' ? Number(seconds) : 0;
    const n = typeof nanos === 'number' ? nanos : 0;
    const ms = s * 1000 + n / 1e6;
    return Number.isFinite(ms) ? ms : undefined;
  }
  return undefined;
}

/**
 * The function's retry policy, `undefined` when it has none, or a message saying what is wrong
 * with it (the host refuses such a function at indexing).
 */
export function readRetryPolicy(metadata: FunctionMetadata): RetryPolicy | undefined | string {
  const raw = metadata.retryOptions as Record<string, unknown> | undefined | null;
  if (raw === undefined || raw === null) return undefined;
  const strategy = raw['retryStrategy'] ?? raw['strategy'];
  const maxRetryCount = raw['maxRetryCount'];
  if (typeof maxRetryCount !== 'number' || !Number.isInteger(maxRetryCount) || maxRetryCount < -1) {
    return `retry.maxRetryCount must be an integer of -1 (no limit) or more; got ${JSON.stringify(maxRetryCount)}`;
  }
  if (strategy === 'fixedDelay' || strategy === 0) {
    const delayMs = durationMs(raw['delayInterval']);
    if (delayMs === undefined || delayMs < 0) return `retry.delayInterval is required for the fixedDelay strategy`;
    return { strategy: 'fixedDelay', maxRetryCount, delayMs };
  }
  if (strategy === 'exponentialBackoff' || strategy === 1) {
    const minimumMs = durationMs(raw['minimumInterval']);
    const maximumMs = durationMs(raw['maximumInterval']);
    if (minimumMs === undefined || maximumMs === undefined || minimumMs < 0)
      return `retry.minimumInterval and retry.maximumInterval are required for the exponentialBackoff strategy`;
    if (maximumMs < minimumMs) return `retry.maximumInterval (${maximumMs} ms) is less than retry.minimumInterval (${minimumMs} ms)`;
    return { strategy: 'exponentialBackoff', maxRetryCount, minimumMs, maximumMs };
  }
  return `retry.strategy must be 'fixedDelay' or 'exponentialBackoff'; got ${JSON.stringify(strategy)}`;
}

/** The wait before retry number `retry` (1 for the first retry). `random` returns [0, 1). */
export function retryDelayMs(policy: RetryPolicy, retry: number, random: () => number = Math.random): number {
  if (policy.strategy === 'fixedDelay') return policy.delayMs;
  const factor = 0.8 + 0.4 * random();
  const delay = policy.minimumMs + 2 ** (retry - 1) * policy.minimumMs * factor;
  return Math.min(policy.maximumMs, delay);
}

function rpcException(error: unknown): RpcRetryContext['exception'] {
  const e = error instanceof Error ? error : new Error(String(error));
  return { message: e.message, source: e.name, stackTrace: e.stack ?? '' };
}

export interface RetryRunOptions {
  logger: DevhostLogger;
  /** Aborted when the host stops: a pending wait ends and no further attempt is made. */
  signal: AbortSignal;
  random?: () => number;
}

/**
 * Invokes `fn` under `policy`: resolves with the first successful outcome, rejects with the last
 * attempt's error once the retries are spent (or the host stops).
 */
export async function invokeWithRetryPolicy(
  invoke: Invoker,
  fn: RegisteredFunction,
  policy: RetryPolicy,
  inputs: () => Record<string, RpcTypedData | null | undefined>,
  options: RetryRunOptions,
): Promise<InvocationOutcome> {
  let exception: RpcRetryContext['exception'] | undefined;
  for (let attempt = 0; ; attempt++) {
    const retryContext: RpcRetryContext = { retryCount: attempt, maxRetryCount: policy.maxRetryCount, ...(exception ? { exception } : {}) };
    try {
      return await invoke(fn, inputs(), {}, { retryContext });
    } catch (error) {
      if (policy.maxRetryCount !== -1 && attempt >= policy.maxRetryCount) {
        options.logger.error(`Function '${fn.name}': all ${policy.maxRetryCount} retries failed.`);
        throw error;
      }
      if (options.signal.aborted) throw error;
      exception = rpcException(error);
      const delay = retryDelayMs(policy, attempt + 1, options.random);
      options.logger.warn(`Function '${fn.name}': retry ${attempt + 1} of ${policy.maxRetryCount === -1 ? 'unlimited' : policy.maxRetryCount} in ${Math.round(delay)} ms.`);
      const waited = await wait(delay, options.signal);
      if (!waited) {
        options.logger.warn(`Function '${fn.name}': the host is stopping; no more retries.`);
        throw error;
      }
    }
  }
}

/** Resolves true after `ms`, or false as soon as `signal` aborts. */
function wait(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
