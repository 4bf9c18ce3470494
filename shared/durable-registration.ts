import type { InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import type { OrchestrationContext, Task } from 'durable-functions';
import type { ActivityDef, OrchestratorDef } from './agent-runtime/activity-catalog.js';

/**
 * Registration through the activity catalogue (`functions/` only): the handler must take the
 * definition's input and return its output, so registration and callers cannot drift apart.
 */
export function registerActivity<I, O>(activity: ActivityDef<I, O>, handler: (input: I, context: InvocationContext) => Promise<O> | O): void {
  df.app.activity(activity.name, { handler: (input: unknown, context: InvocationContext) => handler(input as I, context) });
}

/** An orchestrator returns its output, or nothing when it continues as new. */
export function registerOrchestrator<I, O>(orchestration: OrchestratorDef<I, O>, orchestrator: (context: OrchestrationContext) => Generator<Task, O | undefined, unknown>): void {
  df.app.orchestration(orchestration.name, orchestrator);
}
