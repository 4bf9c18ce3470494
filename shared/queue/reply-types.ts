import type { AgentRunInput, AgentRunOutput } from '../agent-runtime/run-types.js';

/**
 * Payloads of the reply path of the Service Bus door: a queued request that names a reply
 * queue runs as `queuedAgentRun`, which publishes a {@link RunReply} there when the run ends.
 * Plain data only: these cross the orchestration and activity boundaries as JSON.
 */

/** Where and how to publish the result; resolved by the door, carried in the input. */
export interface ReplyTarget {
  /** Service Bus queue name (locally: a devhost queue). */
  queue: string;
  /** The request message's id, echoed so the caller can match the reply without a correlation id. */
  requestMessageId: string;
  /** Publish retries, owned by the Durable retry policy (the SDK client does not also retry). */
  maxAttempts: number;
  /** First wait between publish attempts, in milliseconds; doubles per attempt. */
  retryIntervalMs: number;
}

/** Input of `queuedAgentRun`: the agent run itself plus where its result goes. */
export interface QueuedAgentRunInput {
  run: AgentRunInput;
  reply: ReplyTarget;
}

/** The message body published to the reply queue (`contentType: application/json`). */
export interface RunReply {
  runId: string;
  tenantId: string;
  agent: string;
  correlationId: string;
  requestMessageId: string;
  /** `completed`: the run ended (see `output.status` for how); `failed`: it threw. */
  outcome: 'completed' | 'failed';
  output?: AgentRunOutput;
  error?: { message: string };
}

/** Input of the `publishRunReply` activity. */
export interface PublishRunReplyInput {
  queue: string;
  reply: RunReply;
}

/**
 * Output of `publishRunReply`. A failure no retry can fix (no transport, queue refused) is
 * returned rather than thrown, so the Durable retry policy does not repeat it; it stays visible
 * in the wrapper's history.
 */
export interface PublishRunReplyOutput {
  published: boolean;
  error?: { code: string; message: string };
}

/**
 * Instance id of the `queuedAgentRun` wrapper for run `runId`. The run itself keeps `runId` (the
 * runs API, approvals and cancel address it unchanged); the `:reply` suffix is outside the run-id
 * alphabet, so the wrapper can never be read as a run through the API.
 */
export function replyInstanceIdFor(runId: string): string {
  return `${runId}:reply`;
}
