import * as df from 'durable-functions';
import type { OrchestrationContext, Task } from 'durable-functions';
import type { ActivityDef, OrchestratorDef } from '../agent-runtime/activity-catalog.js';

/**
 * Typed calls from orchestrators: one definition per activity or orchestration
 * (`activity-catalog.ts`) gives the name and the payload types, so a changed payload fails to
 * compile where it is produced and where it is read. A `TypedTask<O>` is a plain Durable task;
 * read its result with {@link resultOf} (after it completed) or yield it with {@link awaited}.
 * Deterministic helpers only: no I/O, no clock (this is the orchestrator zone).
 */
export type TypedTask<O> = Task & { readonly __result?: O };

/** The retry policy the orchestrators use: first wait, attempts, backoff 2, waits capped. */
export function retryPolicy(firstRetryIntervalMs: number, maxAttempts: number, maxRetryIntervalMs = 30_000): df.RetryOptions {
  const options = new df.RetryOptions(firstRetryIntervalMs, maxAttempts);
  options.backoffCoefficient = 2;
  options.maxRetryIntervalInMilliseconds = maxRetryIntervalMs;
  return options;
}

export function callActivity<I, O>(context: OrchestrationContext, activity: ActivityDef<I, O>, input: I, retry?: df.RetryOptions): TypedTask<O> {
  return retry ? context.df.callActivityWithRetry(activity.name, retry, input) : context.df.callActivity(activity.name, input);
}

export function callSubOrchestrator<I, O>(context: OrchestrationContext, orchestrator: OrchestratorDef<I, O>, input: I, instanceId?: string): TypedTask<O> {
  return context.df.callSubOrchestrator(orchestrator.name, input, instanceId);
}

/** The result of a completed task, typed by its definition. */
export function resultOf<O>(task: TypedTask<O>): O {
  return task.result as O;
}

/** Yields `task` and returns its result, typed: `const out = yield* awaited(callActivity(...))`. */
export function* awaited<O>(task: TypedTask<O>): Generator<Task, O, unknown> {
  return (yield task) as O;
}

/** The message of an error that crossed the activity or orchestration boundary. */
export function errorText(error: unknown): string {
  const e = error as { message?: unknown } | undefined;
  return typeof e?.message === 'string' ? e.message : String(error);
}

/** The orchestration's input, typed by its definition. */
export function inputOf<I, O>(context: OrchestrationContext, _orchestration: OrchestratorDef<I, O>): I {
  return context.df.getInput() as I;
}
