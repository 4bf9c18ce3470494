import * as df from 'durable-functions';
import type { OrchestrationContext, Task } from 'durable-functions';
import { Activities, Orchestrators } from '../agent-runtime/activity-catalog.js';
import type { AgentRunOutput } from '../agent-runtime/run-types.js';
import type { PublishRunReplyInput, QueuedAgentRunInput, RunReply } from '../queue/reply-types.js';

/**
 * `queuedAgentRun`: a Service Bus request that names a reply queue. Runs `agentRun` as a
 * sub-orchestration whose instance id is the run id (so the runs API, approvals, cancel and the
 * door's idempotency check address the run exactly as for any other run), then publishes the
 * result with the `publishRunReply` activity. The wrapper's own id is `<runId>:reply`
 * (see `replyInstanceIdFor`).
 *
 * A failed run is still answered (outcome `failed`): the caller waits on the reply queue and
 * must hear about failures too. Deterministic: every setting (queue, retry policy) is in the
 * input. Scheduling order (sub-orchestration, then activity) is fixed: change it only under a
 * new name.
 */
export function* queuedAgentRunOrchestrator(context: OrchestrationContext): Generator<Task, RunReply, unknown> {
  const { run, reply: target } = context.df.getInput() as QueuedAgentRunInput;
  const base = {
    runId: run.runId,
    tenantId: run.tenantId,
    agent: run.agent.definition.id,
    correlationId: run.correlationId,
    requestMessageId: target.requestMessageId,
  };
  let reply: RunReply;
  try {
    const output = (yield context.df.callSubOrchestrator(Orchestrators.agentRun.name, run, run.runId)) as AgentRunOutput;
    reply = { ...base, outcome: 'completed', output };
  } catch (error) {
    const message = typeof (error as { message?: unknown })?.message === 'string' ? (error as { message: string }).message : String(error);
    reply = { ...base, outcome: 'failed', error: { message } };
  }
  const retry = new df.RetryOptions(target.retryIntervalMs, target.maxAttempts);
  retry.backoffCoefficient = 2;
  retry.maxRetryIntervalInMilliseconds = 60_000;
  const publish: PublishRunReplyInput = { queue: target.queue, reply };
  yield context.df.callActivityWithRetry(Activities.publishRunReply.name, retry, publish);
  return reply;
}
