import type { OrchestrationContext, Task } from 'durable-functions';
import { Activities, Orchestrators } from '../agent-runtime/activity-catalog.js';
import type { AgentRunOutput } from '../agent-runtime/run-types.js';
import type { BotConversationOutput, BotReplyInput } from '../bot/bot-types.js';
import { awaited, callActivity, callSubOrchestrator, errorText, inputOf, retryPolicy } from './durable-calls.js';

/**
 * `botConversationRun`: answers one Teams / bot message. Shows typing (best effort: a failed
 * typing indicator must not cost the answer), runs `agentRun` as a sub-orchestration with the
 * run id chosen at the door (so the run is visible in the runs API), then posts the answer — or
 * an apology when the run failed — back to the conversation. A run refused at the door
 * (`refusal`: the tenant's token budget is spent) only posts the refusal. Deterministic (DESIGN.md section 5).
 * Changing the order of scheduled work breaks in-flight instances: add a new versioned name.
 */

export function* botConversationRunOrchestrator(context: OrchestrationContext): Generator<Task, BotConversationOutput, unknown> {
  const input = inputOf(context, Orchestrators.botConversationRun);
  const { run, conversation } = input;
  if (input.refusal) {
    // Refused at the door (the tenant's budget is spent): tell the user why; no agent run.
    const notice: BotReplyInput = { tenantId: run.tenantId, runId: run.runId, conversation, notice: input.refusal.message };
    const told = yield* awaited(callActivity(context, Activities.botPostReply, notice, retryPolicy(1_000, 5)));
    return { runId: run.runId, status: input.refusal.code, delivered: told.delivered };
  }
  try {
    yield callActivity(context, Activities.botSendTyping, { tenantId: run.tenantId, conversation });
  } catch {
    // Typing is cosmetic; the answer still goes out.
  }
  let output: AgentRunOutput | undefined;
  let failure: string | undefined;
  try {
    output = yield* awaited(callSubOrchestrator(context, Orchestrators.agentRun, run, run.runId));
  } catch (error) {
    failure = errorText(error);
  }
  const reply: BotReplyInput = {
    tenantId: run.tenantId,
    runId: run.runId,
    conversation,
    ...(output?.answer != null ? { answer: output.answer } : {}),
    ...(output?.answerRef ? { answerRef: output.answerRef } : {}),
    ...(failure !== undefined || !output || (output.answer == null && !output.answerRef) ? { failure: failure ?? output?.status ?? 'no answer' } : {}),
  };
  const delivery = yield* awaited(callActivity(context, Activities.botPostReply, reply, retryPolicy(1_000, 5)));
  return { runId: run.runId, status: output?.status ?? 'failed', delivered: delivery.delivered };
}
