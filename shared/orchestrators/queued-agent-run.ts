import type { OrchestrationContext, Task } from 'durable-functions';
import { Activities, Orchestrators } from '../agent-runtime/activity-catalog.js';
import type { RunReply } from '../queue/reply-types.js';
import { awaited, callActivity, callSubOrchestrator, errorText, inputOf, retryPolicy } from './durable-calls.js';

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
  const { run, reply: target } = inputOf(context, Orchestrators.queuedAgentRun);
  const base = {
    runId: run.runId,
    tenantId: run.tenantId,
    agent: run.agent.definition.id,
    correlationId: run.correlationId,
    requestMessageId: target.requestMessageId,
  };
  let reply: RunReply;
  try {
    const output = yield* awaited(callSubOrchestrator(context, Orchestrators.agentRun, run, run.runId));
    reply = { ...base, outcome: 'completed', output };
  } catch (error) {
    reply = { ...base, outcome: 'failed', error: { message: errorText(error) } };
  }
  yield callActivity(context, Activities.publishRunReply, { queue: target.queue, reply }, retryPolicy(target.retryIntervalMs, target.maxAttempts, 60_000));
  return reply;
}
