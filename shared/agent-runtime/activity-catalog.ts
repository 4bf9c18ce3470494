import type { BatchItemResult, BatchLaneInput, BatchRunInput, BatchRunOutput, BatchSummaryInput, PrepareBatchOutput } from '../batch/batch-types.js';
import type { BotConversationInput, BotConversationOutput, BotReplyInput, BotTypingInput } from '../bot/bot-types.js';
import type { PublishRunReplyInput, PublishRunReplyOutput, QueuedAgentRunInput, RunReply } from '../queue/reply-types.js';
import type { AgentRunInput, AgentRunOutput, PayloadRef, ToolCallRequest, ToolOutcome, Usage } from './run-types.js';
import type { RunTrace } from '../telemetry/trace-context.js';

/**
 * The one catalogue of Durable functions and their payload types (CONVENTIONS.md 6). Both sides
 * use it: `functions/` registers with it (`registerActivity`, `registerOrchestrator` in
 * shared/durable-registration.ts) and orchestrators call through it (`callActivity`,
 * `callSubOrchestrator` in shared/orchestrators/durable-calls.ts), so a handler and its callers
 * agree on the payload at compile time. Renaming an entry, or changing the order in which an
 * orchestrator schedules them, breaks in-flight instances: add a new versioned name instead.
 */
export interface ActivityDef<Input, Output> {
  readonly name: string;
  /** Type-level only (never set): ties the definition to its input and output types. */
  readonly signature?: (input: Input) => Output;
}

/** An orchestration, defined the same way. */
export type OrchestratorDef<Input, Output> = ActivityDef<Input, Output>;

function activity<Input, Output>(name: string): ActivityDef<Input, Output> {
  return { name };
}

function orchestrator<Input, Output>(name: string): OrchestratorDef<Input, Output> {
  return { name };
}

export interface AgentRef {
  id: string;
  version: number;
  contentHash: string;
}

export interface CallModelInput {
  tenantId: string;
  runId: string;
  /** The run's trace context: spans made here are children of the run's `invoke_agent` span. */
  trace?: RunTrace;
  agent: AgentRef;
  correlationId: string;
  turn: number;
  /** Messages already stored in the conversation blob. */
  messageCount: number;
  /** First turn only: the user's request. */
  userInput?: PayloadRef;
  /** Tool outcomes to append before calling the model. */
  toolOutcomes: ToolOutcome[];
  deployments?: string[];
}

export interface CallModelOutput {
  messageCount: number;
  usage: Usage;
  /** Set when the model answered; absent when it asked for tools. */
  answer?: PayloadRef;
  toolCalls: ToolCallRequest[];
  deployment: string;
  fallbackTaken: boolean;
  /**
   * A failure retrying cannot fix (400, auth, content filter): returned, not thrown, so the
   * Durable retry policy does not repeat it. Retryable failures are thrown.
   */
  failure?: { code: string; message: string };
  /**
   * The model could not be reached now (429, 5xx, timeouts on every deployment, open circuits,
   * this instance at its model-call cap) and nothing was recorded: the gateway's advice, as data,
   * so the orchestrator waits on a durable timer (`afterMs` at least) and calls again with the
   * same input, instead of burning Durable retries inside the outage.
   */
  retry?: { afterMs: number; code: string; message: string };
}

export interface RunToolInput {
  tenantId: string;
  runId: string;
  /** The run's trace context: spans made here are children of the run's `invoke_agent` span. */
  trace?: RunTrace;
  agent: AgentRef;
  correlationId: string;
  call: ToolCallRequest;
  /**
   * The timeout the orchestrator races this call against; the activity aborts the tool then too,
   * so a call given up on does not run on. Default: the agent's `limits.toolTimeoutMs`.
   */
  timeoutMs?: number;
}

/** Input of the `agentToolCall` sub-orchestration: one tool call and its retry policy. */
export interface ToolCallInput {
  tool: RunToolInput;
  maxAttempts: number;
  /** First wait before a retry, in milliseconds; doubles per attempt. */
  retryIntervalMs: number;
  /** Attempts the caller already made (its first one), so the outcome reports the total. */
  attemptsBefore?: number;
}

export interface PrepareRunInput {
  run: AgentRunInput;
  /** When the orchestration started (ISO 8601, replay-stable); a top-level run is indexed under it. */
  startedAt?: string;
}

export interface RunEventInput {
  tenantId: string;
  runId: string;
  /** The run's trace context: spans made here are children of the run's `invoke_agent` span. */
  trace?: RunTrace;
  correlationId: string;
  type: 'run.started' | 'run.completed' | 'run.failed' | 'approval.requested' | 'approval.decided' | 'approval.timed_out' | 'model.waiting';
  data: Record<string, unknown>;
}

export const Activities = {
  /** Stores the agent snapshot with the run (idempotent) and emits run.started. */
  prepareRun: activity<PrepareRunInput, { agent: AgentRef }>('agentPrepareRun'),
  /**
   * One model call: appends new messages to the conversation, calls the gateway, records the
   * answer (first write wins). Safe to run twice: a re-run finds the stored answer and returns
   * it without calling the model again, so the run acts on what the conversation shows.
   */
  callModel: activity<CallModelInput, CallModelOutput>('agentCallModel'),
  /**
   * One tool call, validated against the tool's schema. Safe to run twice: the outcome is stored
   * per call id (first write wins) and a re-run returns the stored outcome without invoking the
   * tool again; a run cut off mid-call invokes it again with the same idempotency key.
   */
  runTool: activity<RunToolInput, ToolOutcome>('agentRunTool'),
  /** Appends one run event (audit/telemetry feed). */
  recordRunEvent: activity<RunEventInput, void>('agentRecordRunEvent'),
  /** Publishes a queued run's result to the reply queue its request named. */
  publishRunReply: activity<PublishRunReplyInput, PublishRunReplyOutput>('queuePublishRunReply'),
  /** Resolves a batch's agent tree and items (list or tenant documents) with their run ids. */
  prepareBatch: activity<BatchRunInput, PrepareBatchOutput>('batchPrepare'),
  /** Writes the batch summary JSON into the tenant's blob space; returns its tenant-relative path. */
  writeBatchSummary: activity<BatchSummaryInput, { path: string }>('batchWriteSummary'),
  /** Shows "typing…" in the conversation (best effort). */
  botSendTyping: activity<BotTypingInput, void>('botSendTyping'),
  /** Posts the run's answer (or an apology) back to the conversation. */
  botPostReply: activity<BotReplyInput, { delivered: boolean; status: number }>('botPostReply'),
} as const;

export const Orchestrators = {
  agentRun: orchestrator<AgentRunInput, AgentRunOutput>('agentRun'),
  /** One tool call with retries (see shared/orchestrators/agent-tool-call.ts for why). */
  agentToolCall: orchestrator<ToolCallInput, ToolOutcome>('agentToolCall'),
  /** A queued request with a reply queue: `agentRun` as a sub-orchestration, then the reply published. */
  queuedAgentRun: orchestrator<QueuedAgentRunInput, RunReply>('queuedAgentRun'),
  /** One scheduled batch: agent runs fanned out with bounded concurrency, then a summary. */
  batchRun: orchestrator<BatchRunInput, BatchRunOutput>('batchRun'),
  /** One lane of a batch: its share of the items, one agent run after another. */
  batchLane: orchestrator<BatchLaneInput, BatchItemResult[]>('batchLane'),
  /** One Teams / bot message: typing, the agent run, then the reply posted to the conversation. */
  botConversationRun: orchestrator<BotConversationInput, BotConversationOutput>('botConversationRun'),
} as const;
