import type { AgentSnapshot } from '../agents/agent-definition.js';
import type { AgentRunInput, Initiator, PayloadRef, RunEndReason, Usage } from '../agent-runtime/run-types.js';
import type { ScheduleInput } from './schedule.js';

/**
 * Payloads of the `batchRun` orchestration and its activities. Plain JSON: they live in Durable
 * history. Everything the orchestrator needs is in {@link BatchRunInput} (DESIGN.md section 5).
 */
export interface BatchRunInput {
  /** Durable instance id of the batch: {@link batchInstanceId}. */
  batchId: string;
  scheduleId: string;
  tenantId: string;
  agentId: string;
  /** The schedule slot this batch is for (ISO 8601, UTC). */
  slot: string;
  /** Never more than this many agent runs in flight. */
  maxConcurrency: number;
  input: ScheduleInput;
  variables: Record<string, string>;
  initiator: Initiator;
  correlationId: string;
  /** W3C `traceparent` of the scheduler's span: the batch's runs hang from it (shared/telemetry/). */
  traceparent?: string;
}

export interface BatchItem {
  /** Durable instance id of the item's agent run (`{tenantId}--<opaque>`, readable in the runs API). */
  runId: string;
  input: PayloadRef;
  /** What the item was made from (list index or document path), for the summary. */
  source: string;
  /**
   * Why the item cannot run (it does not fit the schedule's input template); then no run is
   * started for it, `runId` is the id it would have had, and the summary lists it as failed.
   */
  rejected?: string;
}

export interface PrepareBatchOutput {
  agent: AgentSnapshot;
  subAgents: Record<string, AgentSnapshot>;
  items: BatchItem[];
}

/** Input of a `batchLane` sub-orchestration: the runs it does, in order. */
export interface BatchLaneInput {
  runs: { index: number; run: AgentRunInput; source: string }[];
}

export interface BatchItemResult {
  /** Position of the item in the batch. */
  index: number;
  runId: string;
  source: string;
  status: RunEndReason | 'failed';
  usage?: Usage;
  error?: string;
}

export interface BatchSummaryInput {
  tenantId: string;
  batchId: string;
  scheduleId: string;
  agentId: string;
  slot: string;
  startedAt: string;
  finishedAt: string;
  maxConcurrency: number;
  items: BatchItemResult[];
}

export interface BatchRunOutput {
  batchId: string;
  total: number;
  completed: number;
  failed: number;
  /** Tenant-relative blob path of the summary JSON. */
  summaryPath: string;
}

/**
 * The batch's instance id, derived from schedule and slot only, so a timer that fires twice in
 * one slot (or two instances racing) addresses the same orchestration. Deliberately not a run id
 * (`{tenant}--…`): the runs API does not list batches, only their item runs.
 */
export function batchInstanceId(tenantId: string, scheduleId: string, slotMs: number): string {
  const stamp = new Date(slotMs)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
  return `batch.${tenantId}.${scheduleId}.${stamp}`;
}
