import * as df from 'durable-functions';
import type { OrchestrationContext, Task } from 'durable-functions';
import { Activities, Orchestrators } from '../agent-runtime/activity-catalog.js';
import type { AgentRunOutput } from '../agent-runtime/run-types.js';
import type { BotConversationInput, BotConversationOutput, BotReplyInput } from '../bot/bot-types.js';

/**
 * `botConversationRun`: answers one Teams / bot message. Shows typing (best effort: a failed
 * typing indicator must not cost the answer), runs `agentRun` as a sub-orchestration with the
 * run id chosen at the door (so the run is visible in the runs API), then posts the answer — or
 * an apology when the run failed — back to the conversation. Deterministic (DESIGN.md section 5).
 * Changing the order of scheduled work breaks in-flight instances: add a new versioned name.
 */

function retryOptions(attempts: number): df.RetryOptions {
  const options = new df.RetryOptions(1_000, attempts);
  options.backoffCoefficient = 2;
  options.maxRetryIntervalInMilliseconds = 30_000;
  return options;
}

export function* botConversationRunOrchestrator(context: OrchestrationContext): Generator<Task, BotConversationOutput, unknown> {
  const input = context.df.getInput() as BotConversationInput;
  const { run, conversation } = input;
  try {
    yield context.df.callActivity(Activities.botSendTyping.name, { tenantId: run.tenantId, conversation });
  } catch {
    // Typing is cosmetic; the answer still goes out.
  }
  let output: AgentRunOutput | undefined;
  let failure: string | undefined;
  try {
    output = (yield context.df.callSubOrchestrator(Orchestrators.agentRun.name, run, run.runId)) as AgentRunOutput;
  } catch (error) {
    failure = (error as { message?: unknown }).message === undefined ? 'run failed' : String((error as { message?: unknown }).message);
  }
  const reply: BotReplyInput = {
    tenantId: run.tenantId,
    runId: run.runId,
    conversation,
    ...(output?.answer != null ? { answer: output.answer } : {}),
    ...(output?.answerRef ? { answerRef: output.answerRef } : {}),
    ...(failure !== undefined || !output || (output.answer == null && !output.answerRef) ? { failure: failure ?? output?.status ?? 'no answer' } : {}),
  };
  const delivery = (yield context.df.callActivityWithRetry(Activities.botPostReply.name, retryOptions(5), reply)) as { delivered: boolean; status: number };
  return { runId: run.runId, status: output?.status ?? 'failed', delivered: delivery.delivered };
}
