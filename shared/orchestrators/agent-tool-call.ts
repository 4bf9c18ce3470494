import type { OrchestrationContext, Task } from 'durable-functions';
import { Activities, Orchestrators } from '../agent-runtime/activity-catalog.js';
import type { ToolOutcome } from '../agent-runtime/run-types.js';
import { awaited, callActivity, errorText, inputOf, retryPolicy } from './durable-calls.js';

/**
 * `agentToolCall`: one tool call with its retry policy, as a sub-orchestration of `agentRun`.
 *
 * Why a sub-orchestration: `agentRun` races each call against a durable timeout timer and
 * cancels the timer when the call wins. If the retries (attempt, retry timer, attempt, ...)
 * were scheduled in the parent between the timer's creation and its cancellation, the
 * extension's replay of the cancelled timer would shift their task ids (non-determinism). Here
 * the retries live in this small history and the parent sees one task per call.
 *
 * A call that still fails after its last attempt returns an `error` outcome for the model
 * rather than failing, so one broken tool never fails the run.
 */
export function* agentToolCallOrchestrator(context: OrchestrationContext): Generator<Task, ToolOutcome, unknown> {
  const input = inputOf(context, Orchestrators.agentToolCall);
  try {
    return yield* awaited(callActivity(context, Activities.runTool, input.tool, retryPolicy(input.retryIntervalMs, input.maxAttempts)));
  } catch (error) {
    const message = errorText(error);
    return {
      callId: input.tool.call.id,
      name: input.tool.call.name,
      status: 'error',
      content: { inline: JSON.stringify({ error: 'tool_failed', message, attempts: input.maxAttempts + (input.attemptsBefore ?? 0) }) },
      attempts: input.maxAttempts + (input.attemptsBefore ?? 0),
    };
  }
}
