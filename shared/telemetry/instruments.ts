import type { Counter, Histogram, Meter } from '@opentelemetry/api';
import { meter as appMeter } from './telemetry.js';

/**
 * Every metric the app records, created once per meter. Each carries `tenant.id`. Names of the
 * GenAI ones are the semantic conventions' (`gen_ai.client.*`, seconds and tokens with the
 * conventions' bucket boundaries); ours are under `agent.*`.
 */
export interface Instruments {
  /** GenAI convention: tokens per model call, `gen_ai.token.type` = input | output. */
  tokenUsage: Histogram;
  /** GenAI convention: seconds per model call (failed calls too, with `error.type`). */
  operationDuration: Histogram;
  runsStarted: Counter;
  runsCompleted: Counter;
  runsFailed: Counter;
  runsCanceled: Counter;
  /** Seconds from the run's start to its end. */
  runDuration: Histogram;
  /** By `gen_ai.tool.name` and `outcome` (ok | error). */
  toolCalls: Counter;
  /** Seconds a tool call waited for a human decision, by `outcome`. */
  approvalWait: Histogram;
  /** Model calls answered by a deployment after the first one. */
  modelFallbacks: Counter;
  /** A deployment's circuit opened (model gateway). */
  circuitOpenings: Counter;
  /** Queue messages dead-lettered, by `reason`. */
  deadLetters: Counter;
  /** Tenants whose usage crossed their plan's soft limit, once per tenant and billing period (`tenant.id`). */
  budgetSoftLimits: Counter;
}

const TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];
const DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];
const LONG_BUCKETS = [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 14400, 86400];

export function createInstruments(m: Meter): Instruments {
  return {
    tokenUsage: m.createHistogram('gen_ai.client.token.usage', {
      unit: '{token}',
      description: 'Number of input and output tokens used',
      advice: { explicitBucketBoundaries: TOKEN_BUCKETS },
    }),
    operationDuration: m.createHistogram('gen_ai.client.operation.duration', {
      unit: 's',
      description: 'GenAI operation duration',
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    }),
    runsStarted: m.createCounter('agent.runs.started', { unit: '{run}', description: 'Agent runs started, by door and agent' }),
    runsCompleted: m.createCounter('agent.runs.completed', { unit: '{run}', description: 'Agent runs that ended normally (completed, max turns, budget), by door and agent' }),
    runsFailed: m.createCounter('agent.runs.failed', { unit: '{run}', description: 'Agent runs that failed, by door and agent' }),
    runsCanceled: m.createCounter('agent.runs.canceled', { unit: '{run}', description: 'Agent runs canceled, by door and agent' }),
    runDuration: m.createHistogram('agent.run.duration', { unit: 's', description: 'Agent run duration, start to end', advice: { explicitBucketBoundaries: LONG_BUCKETS } }),
    toolCalls: m.createCounter('agent.tool.calls', { unit: '{call}', description: 'Tool calls executed, by tool and outcome' }),
    approvalWait: m.createHistogram('agent.approval.wait.duration', {
      unit: 's',
      description: 'Time a tool call waited for a human decision',
      advice: { explicitBucketBoundaries: LONG_BUCKETS },
    }),
    modelFallbacks: m.createCounter('agent.model.fallbacks', { unit: '{call}', description: 'Model calls answered by a fallback deployment' }),
    circuitOpenings: m.createCounter('agent.model.circuit.openings', { unit: '{event}', description: 'Model deployment circuits opened' }),
    deadLetters: m.createCounter('agent.queue.dead_letters', { unit: '{message}', description: 'Queue messages dead-lettered, by reason' }),
    budgetSoftLimits: m.createCounter('agent.budget.soft_limits', { unit: '{event}', description: 'Tenants that crossed their soft token limit, once per billing period' }),
  };
}

let cached: { meter: Meter; instruments: Instruments } | undefined;

/** The app's instruments on the global meter provider (created on first use, after the SDK started). */
export function instruments(): Instruments {
  const m = appMeter();
  if (cached?.meter !== m) cached = { meter: m, instruments: createInstruments(m) };
  return cached.instruments;
}
