import * as df from 'durable-functions';
import type { OrchestrationContext, Task } from 'durable-functions';
import { Activities } from '../agent-runtime/activity-catalog.js';
import type { ToolCallInput } from '../agent-runtime/activity-catalog.js';
import type { ToolOutcome } from '../agent-runtime/run-types.js';

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
  const input = context.df.getInput() as ToolCallInput;
  const retry = new df.RetryOptions(input.retryIntervalMs, input.maxAttempts);
  retry.backoffCoefficient = 2;
  retry.maxRetryIntervalInMilliseconds = 30_000;
  try {
    return (yield context.df.callActivityWithRetry(Activities.runTool.name, retry, input.tool)) as ToolOutcome;
  } catch (error) {
    const message = typeof (error as { message?: unknown })?.message === 'string' ? (error as { message: string }).message : String(error);
    return {
      callId: input.tool.call.id,
      name: input.tool.call.name,
      status: 'error',
      content: { inline: JSON.stringify({ error: 'tool_failed', message, attempts: input.maxAttempts }) },
      attempts: input.maxAttempts,
    };
  }
}
