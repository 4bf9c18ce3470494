import type { AgentSnapshot } from '../agents/agent-definition.js';

/**
 * Types that cross the orchestration boundary. All plain JSON: they are stored in Durable
 * history, so keep them small (large text goes to Blob and travels as a {@link PayloadRef}).
 */

/** Inline text when small, otherwise a tenant-relative blob path. */
export type PayloadRef = { inline: string } | { blob: string; bytes: number };

export interface Usage {
  inputTokens: number;
  outputTokens: number;
  modelCalls: number;
}

export const ZERO_USAGE: Usage = { inputTokens: 0, outputTokens: 0, modelCalls: 0 };

export function addUsage(a: Usage, b: Usage): Usage {
  return { inputTokens: a.inputTokens + b.inputTokens, outputTokens: a.outputTokens + b.outputTokens, modelCalls: a.modelCalls + b.modelCalls };
}

export function totalTokens(u: Usage): number {
  return u.inputTokens + u.outputTokens;
}

export interface Initiator {
  kind: 'user' | 'app' | 'webhook' | 'queue' | 'schedule' | 'bot' | 'cli' | 'agent';
  /** Entra object id / app id, webhook source, queue message id... */
  id: string;
  /** The user an app acts for, when it acts on someone's behalf. */
  onBehalfOf?: string;
}

/** The door a run came through, from who started it (span and metric attribute, audit record). */
export function doorOf(initiator: Pick<Initiator, 'kind'>): string {
  switch (initiator.kind) {
    case 'user':
    case 'app':
      return 'runs-api';
    case 'webhook':
      return 'webhook';
    case 'queue':
      return 'queue';
    case 'schedule':
      return 'schedule';
    case 'bot':
      return 'bot';
    case 'cli':
      return 'cli';
    case 'agent':
      return 'sub-agent';
  }
}

/** A tool call the model asked for. Arguments are JSON text (inline or in Blob). */
export interface ToolCallRequest {
  id: string;
  name: string;
  arguments: PayloadRef;
}

/** What the orchestrator tells the model about a tool call: its result, an error, or a denial. */
export interface ToolOutcome {
  callId: string;
  name: string;
  /** `timeout`: the tool did not answer in time; `approval_timeout`: nobody decided before the approval deadline (not run). */
  status: 'ok' | 'error' | 'denied' | 'timeout' | 'approval_timeout';
  /** JSON text of the result or error (inline or in Blob). */
  content: PayloadRef;
  attempts?: number;
}

/** State carried across continue-as-new so history stays bounded. */
export interface RunCarry {
  turn: number;
  usage: Usage;
  toolCalls: number;
  /** Messages already in the conversation blob. */
  messageCount: number;
  /** Tool outcomes not yet shown to the model. */
  pending: ToolOutcome[];
  generation: number;
  /** When the run's first generation started (ISO 8601): the start of its `invoke_agent` span. */
  startedAt?: string;
}

export interface AgentRunInput {
  tenantId: string;
  runId: string;
  agent: AgentSnapshot;
  /** The user's request (first user message). */
  input: PayloadRef;
  variables: Record<string, string>;
  initiator: Initiator;
  correlationId: string;
  /**
   * W3C `traceparent` of the span this run hangs from: the door's span (top-level runs) or the
   * parent run's `invoke_agent` span (sub-agents). Absent: the run roots a trace of its own.
   */
  traceparent?: string;
  /** 0 for a top-level run; sub-agents run at depth + 1. */
  depth: number;
  /** Deployment override by tenant policy, when set (ordered). */
  deployments?: string[];
  /** Sub-agents this agent may call, resolved with the run (no catalog reads in the orchestrator). */
  subAgents?: Record<string, AgentSnapshot>;
  carry?: RunCarry;
}

export type RunEndReason = 'completed' | 'max_turns' | 'budget_exhausted' | 'canceled';

export interface AgentRunOutput {
  status: RunEndReason;
  answer: string | null;
  turns: number;
  toolCalls: number;
  usage: Usage;
  /** Set instead of `answer` when the answer was too large to inline (tenant-relative blob path). */
  answerRef?: string;
}

/** What `setCustomStatus` shows while the run is in flight. */
export interface RunProgress {
  turn: number;
  /** `waiting_for_model`: the model is unreachable and the run waits on a durable timer until `retryAt`. */
  phase: 'model' | 'waiting_for_model' | 'tools' | 'awaiting_approval' | 'done';
  pendingTools: string[];
  usage: Usage;
  awaitingApproval?: { toolCallId: string; tool: string; deadline: string }[];
  /** How the latest approval round ended, per call. */
  approvals?: ApprovalOutcome[];
  /** While `waiting_for_model`: when the model is tried again, and why it is waiting. */
  modelWait?: { retryAt: string; reason: string; since: string };
}

/** How one approval request ended. `timed_out`: no decision before the deadline; the call did not run. */
export interface ApprovalOutcome {
  toolCallId: string;
  tool: string;
  outcome: 'approved' | 'denied' | 'timed_out';
  decidedBy?: string;
}

/** Body of the `approval` external event. */
export interface ApprovalDecision {
  toolCallId: string;
  approved: boolean;
  comment?: string;
  decidedBy?: string;
  /** Whether `decidedBy` is a user or an application (for the audit trail). */
  decidedByKind?: 'user' | 'app';
}

export const RUN_EVENTS = {
  approval: 'approval',
  cancel: 'cancel',
} as const;
