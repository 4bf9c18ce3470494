import { setTimeout as sleepTimer } from 'node:timers/promises';
import { ModelCallError, isModelCallError, type ChatRequest, type ChatResponse, type ModelAttempt, type ModelCallErrorShape, type ModelClient } from './model-client.js';

/**
 * The model gateway: one model call over an ordered list of deployments, with fallback,
 * Retry-After handling and a circuit breaker per deployment. It is the only layer that retries
 * a model call inside an activity (SDK clients run with `maxRetries: 0`). Runs on the activity
 * side only: it keeps circuit state in memory and reads a clock.
 */

/** A deployment in a policy. `client` picks the endpoint (e.g. a second Azure region); omitted: the default. */
export interface DeploymentRef {
  name: string;
  client?: string;
}

/** Which deployments to try, in order, and the per-attempt timeout. JSON-serialisable. */
export interface ModelCallPolicy {
  /** Ordered, at least one. The first is the preferred deployment. */
  deployments: DeploymentRef[];
  /** Upper bound on one attempt (one HTTP call), in milliseconds. */
  timeoutMs: number;
}

/** Time, injectable so tests never sleep for real. */
export interface GatewayClock {
  /** A monotonic millisecond reading; only differences are used. */
  nowMs(): number;
  /** Resolves after `ms` milliseconds; rejects when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The real clock: `performance.now()` and `timers/promises`. */
export const systemClock: GatewayClock = {
  nowMs: () => performance.now(),
  sleep: async (ms, signal) => {
    await sleepTimer(ms, undefined, signal === undefined ? {} : { signal });
  },
};

/** Settings of a gateway. Built once per process in the composition root. */
export interface ModelGatewayOptions {
  /** Returns the client serving a deployment. Called per attempt; cache clients in the factory. */
  clients: (deployment: DeploymentRef) => ModelClient;
  clock: GatewayClock;
  circuit: {
    /** Consecutive retryable failures that open a deployment's circuit (≥ 1). */
    failureThreshold: number;
    /** How long an open circuit skips its deployment before one trial call, in milliseconds. */
    cooldownMs: number;
  };
  /** Attempts on one deployment within one call (≥ 1); a second attempt happens only after a short Retry-After. */
  maxAttemptsPerDeployment: number;
  /** Longest Retry-After the gateway waits for on the same deployment, in milliseconds; longer: move on. */
  retryAfterCapMs: number;
  /**
   * Most model calls this process has in flight at once (omitted: no cap). A call over the cap is
   * refused at once with `capacity_exceeded` (retryable, `retryAfterMs` = `capacityRetryAfterMs`)
   * instead of queueing: the caller (the agent orchestrator) waits on a durable timer and frees
   * its activity slot, so hung model calls can hold at most this many of the host's activity
   * slots and bookkeeping, approval and tool activities keep flowing in the rest.
   */
  maxConcurrentCalls?: number;
  /** The wait suggested to a call refused for capacity, in milliseconds (default 1000). */
  capacityRetryAfterMs?: number;
  /** Told each time a deployment's circuit opens (a metric in the composition root); must not throw. */
  onCircuitOpened?: (deployment: string) => void;
}

/** What one successful call cost and how it got there. JSON-serialisable. */
export interface ModelUsageRecord {
  /** The deployment that answered. */
  deployment: string;
  /** The model that answered, as the service names it. */
  model: string;
  inputTokens: number;
  outputTokens: number;
  /** From the start of the call to the answer, including failed attempts and waits, in milliseconds. */
  latencyMs: number;
  /** Every attempt in order, including skipped (circuit open) deployments and the successful one. */
  attempts: ModelAttempt[];
  /** True when the answer came from a deployment other than the first in the policy. */
  fallbackTaken: boolean;
}

/** A successful gateway call. */
export interface ModelGatewayResult {
  response: ChatResponse;
  usage: ModelUsageRecord;
}

/** Circuit state of one deployment, for health endpoints and tests. */
export interface CircuitSnapshot {
  /** `${client ?? 'default'}/${name}`. */
  key: string;
  state: 'closed' | 'open' | 'half_open';
  consecutiveFailures: number;
  /** Clock reading at which an open circuit allows a trial call. */
  openUntilMs?: number;
}

export interface ModelGateway {
  /**
   * Calls the deployments of `policy` in order until one answers.
   *
   * - 429, 5xx, timeouts: retryable. With a Retry-After no longer than `retryAfterCapMs` and
   *   attempts left on this deployment, wait and try it again; otherwise fall back to the next.
   * - 400, auth failures, content filter: rejected at once with that error, no fallback.
   * - Caller abort: rejected at once with code `aborted`.
   * - Deployments with an open circuit are skipped (recorded as `circuit_open`).
   * - Nothing left: rejects with code `all_deployments_failed` (retryable) listing every attempt,
   *   with `retryAfterMs` set to the shortest wait any deployment asked for or the next circuit trial.
   *
   * Worst-case duration: deployments × maxAttemptsPerDeployment × (timeoutMs + retryAfterCapMs).
   */
  call(request: Omit<ChatRequest, 'deployment'>, policy: ModelCallPolicy, signal?: AbortSignal): Promise<ModelGatewayResult>;
  /** Current circuit states, one per deployment the gateway has called. */
  circuits(): CircuitSnapshot[];
  /** Model calls in flight in this process now. */
  inFlight(): number;
}

interface CircuitState {
  consecutiveFailures: number;
  /** Set while open; the circuit allows one trial once the clock passes it. */
  openUntilMs: number | undefined;
  /** A trial call is in flight after the cool-down; other calls keep skipping the deployment. */
  trialInFlight: boolean;
}

function assertPositiveInt(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be an integer ≥ 1, got ${value}`);
}

function assertNonNegative(name: string, value: number): void {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`${name} must be a finite number ≥ 0, got ${value}`);
}

function circuitKey(deployment: DeploymentRef): string {
  return `${deployment.client ?? 'default'}/${deployment.name}`;
}

function describeAttempt(a: ModelAttempt): string {
  const status = a.status === undefined ? '' : ` ${a.status}`;
  const wait = a.retryAfterMs === undefined ? '' : `, retry-after ${a.retryAfterMs} ms`;
  return `${a.deployment} ${a.outcome}${status} (${Math.round(a.latencyMs)} ms${wait})`;
}

function abortedError(deployment: string, attempts: ModelAttempt[], cause?: unknown): ModelCallError {
  return new ModelCallError({ code: 'aborted', deployment, message: `model call to ${deployment} aborted by the caller`, attempts, cause });
}

/** Builds a gateway. Circuit state lives in the returned object: build one per process. */
export function createModelGateway(options: ModelGatewayOptions): ModelGateway {
  const { clients, clock, circuit, maxAttemptsPerDeployment, retryAfterCapMs } = options;
  assertPositiveInt('circuit.failureThreshold', circuit.failureThreshold);
  assertNonNegative('circuit.cooldownMs', circuit.cooldownMs);
  assertPositiveInt('maxAttemptsPerDeployment', maxAttemptsPerDeployment);
  assertNonNegative('retryAfterCapMs', retryAfterCapMs);
  const maxConcurrentCalls = options.maxConcurrentCalls ?? Number.POSITIVE_INFINITY;
  if (options.maxConcurrentCalls !== undefined) assertPositiveInt('maxConcurrentCalls', options.maxConcurrentCalls);
  const capacityRetryAfterMs = options.capacityRetryAfterMs ?? 1_000;
  assertNonNegative('capacityRetryAfterMs', capacityRetryAfterMs);

  const circuits = new Map<string, CircuitState>();
  let inFlight = 0;

  function stateOf(key: string): CircuitState {
    let state = circuits.get(key);
    if (state === undefined) {
      state = { consecutiveFailures: 0, openUntilMs: undefined, trialInFlight: false };
      circuits.set(key, state);
    }
    return state;
  }

  /** Decides whether a call may go to this deployment now; claims the half-open trial if due. */
  function admit(state: CircuitState): { admitted: boolean; trial: boolean } {
    if (state.openUntilMs === undefined) return { admitted: true, trial: false };
    if (state.trialInFlight || clock.nowMs() < state.openUntilMs) return { admitted: false, trial: false };
    state.trialInFlight = true;
    return { admitted: true, trial: true };
  }

  function recordSuccess(state: CircuitState): void {
    state.consecutiveFailures = 0;
    state.openUntilMs = undefined;
    state.trialInFlight = false;
  }

  /** Counts a retryable failure; returns true when the circuit is (now) open. */
  function recordFailure(state: CircuitState, trial: boolean, deployment: string): boolean {
    state.consecutiveFailures += 1;
    state.trialInFlight = false;
    if (trial || state.consecutiveFailures >= circuit.failureThreshold) {
      const wasOpen = state.openUntilMs !== undefined;
      state.openUntilMs = clock.nowMs() + circuit.cooldownMs;
      if (!wasOpen || trial) options.onCircuitOpened?.(deployment);
      return true;
    }
    return false;
  }

  /** A trial that ended without a verdict (abort, non-retryable error) frees the slot without reopening. */
  function releaseTrial(state: CircuitState, trial: boolean): void {
    if (trial) state.trialInFlight = false;
  }

  async function call(request: Omit<ChatRequest, 'deployment'>, policy: ModelCallPolicy, signal?: AbortSignal): Promise<ModelGatewayResult> {
    if (policy.deployments.length === 0) throw new RangeError('model policy lists no deployments');
    assertPositiveInt('policy.timeoutMs', policy.timeoutMs);
    if (inFlight >= maxConcurrentCalls) {
      throw new ModelCallError({
        code: 'capacity_exceeded',
        deployment: policy.deployments.map((d) => d.name).join(','),
        message: `this instance already has ${inFlight} model calls in flight (cap ${maxConcurrentCalls}); try again later`,
        attempts: [],
        retryAfterMs: capacityRetryAfterMs,
      });
    }
    inFlight += 1;
    try {
      return await callDeployments(request, policy, signal);
    } finally {
      inFlight -= 1;
    }
  }

  async function callDeployments(request: Omit<ChatRequest, 'deployment'>, policy: ModelCallPolicy, signal?: AbortSignal): Promise<ModelGatewayResult> {
    const startedMs = clock.nowMs();
    const attempts: ModelAttempt[] = [];
    let shortestWaitMs: number | undefined;
    const noteWait = (ms: number): void => {
      shortestWaitMs = shortestWaitMs === undefined ? ms : Math.min(shortestWaitMs, ms);
    };

    for (const [index, deployment] of policy.deployments.entries()) {
      const key = circuitKey(deployment);
      const state = stateOf(key);
      const client = clients(deployment);

      for (let attempt = 1; attempt <= maxAttemptsPerDeployment; attempt += 1) {
        if (signal?.aborted) throw abortedError(deployment.name, attempts, signal.reason);
        const { admitted, trial } = admit(state);
        if (!admitted) {
          attempts.push({ deployment: deployment.name, outcome: 'circuit_open', latencyMs: 0 });
          if (state.openUntilMs !== undefined) noteWait(Math.max(0, state.openUntilMs - clock.nowMs()));
          break;
        }

        const attemptStartMs = clock.nowMs();
        let response: ChatResponse;
        try {
          response = await client.complete(
            { ...request, deployment: deployment.name },
            signal === undefined ? { timeoutMs: policy.timeoutMs } : { timeoutMs: policy.timeoutMs, signal },
          );
        } catch (error) {
          const latencyMs = clock.nowMs() - attemptStartMs;
          if (!isModelCallError(error)) {
            // Not a model failure: a bug in an adapter or a fake. Let it surface unchanged.
            releaseTrial(state, trial);
            throw error;
          }
          const failure: ModelCallErrorShape = error;
          const code = failure.code === 'all_deployments_failed' || failure.code === 'capacity_exceeded' ? 'server_error' : failure.code;
          attempts.push({
            deployment: deployment.name,
            outcome: code,
            latencyMs,
            ...(failure.endpointStatus === undefined ? {} : { status: failure.endpointStatus }),
            ...(failure.retryAfterMs === undefined ? {} : { retryAfterMs: failure.retryAfterMs }),
          });

          if (code === 'aborted' || signal?.aborted) {
            releaseTrial(state, trial);
            throw abortedError(deployment.name, attempts, error);
          }
          if (!failure.retryable) {
            // The request itself is at fault (or credentials are): another deployment would fail the same way.
            releaseTrial(state, trial);
            throw new ModelCallError({
              code,
              deployment: deployment.name,
              message: failure.message.replace(/^[a-z_]+: /, ''),
              ...(failure.endpointStatus === undefined ? {} : { endpointStatus: failure.endpointStatus }),
              attempts,
              cause: error,
            });
          }

          const opened = recordFailure(state, trial, deployment.name);
          const waitMs = failure.retryAfterMs;
          if (waitMs !== undefined) noteWait(waitMs);
          const mayWaitHere = !opened && attempt < maxAttemptsPerDeployment && waitMs !== undefined && waitMs <= retryAfterCapMs;
          if (!mayWaitHere) break;
          try {
            await clock.sleep(waitMs, signal);
          } catch (sleepError) {
            throw abortedError(deployment.name, attempts, sleepError);
          }
          continue;
        }

        recordSuccess(state);
        const latencyMs = clock.nowMs() - attemptStartMs;
        attempts.push({ deployment: deployment.name, outcome: 'ok', latencyMs });
        return {
          response,
          usage: {
            deployment: deployment.name,
            model: response.model,
            inputTokens: response.usage.inputTokens,
            outputTokens: response.usage.outputTokens,
            latencyMs: clock.nowMs() - startedMs,
            attempts,
            fallbackTaken: index > 0,
          },
        };
      }
    }

    const tried = policy.deployments.map((d) => d.name).join(',');
    throw new ModelCallError({
      code: 'all_deployments_failed',
      deployment: tried,
      message: `all ${policy.deployments.length} deployments failed after ${attempts.length} attempts: ${attempts.map(describeAttempt).join('; ')}`,
      attempts,
      ...(shortestWaitMs === undefined ? {} : { retryAfterMs: shortestWaitMs }),
    });
  }

  return {
    call,
    inFlight: () => inFlight,
    circuits(): CircuitSnapshot[] {
      const now = clock.nowMs();
      return [...circuits.entries()].map(([key, s]) => {
        const state: CircuitSnapshot['state'] = s.openUntilMs === undefined ? 'closed' : s.trialInFlight || now >= s.openUntilMs ? 'half_open' : 'open';
        return {
          key,
          state,
          consecutiveFailures: s.consecutiveFailures,
          ...(s.openUntilMs === undefined ? {} : { openUntilMs: s.openUntilMs }),
        };
      });
    },
  };
}
