import { z } from 'zod';
import { ZERO_USAGE, type RunProgress, type Usage } from '../agent-runtime/run-types.js';

/**
 * What users see of a run (DESIGN.md section 3), derived from a Durable instance status. The
 * instance status is read defensively: list queries return raw JSON (dates as strings) and
 * state written by older versions may lack fields.
 */

export type RunStatus = 'Pending' | 'Running' | 'AwaitingApproval' | 'Completed' | 'Failed' | 'Canceled';
export const RUN_STATUSES: readonly RunStatus[] = ['Pending', 'Running', 'AwaitingApproval', 'Completed', 'Failed', 'Canceled'];

export interface RunView {
  id: string;
  tenantId: string;
  agent: string | null;
  status: RunStatus;
  createdAt: string | null;
  lastUpdatedAt: string | null;
  /** Set when the run finished normally. */
  output?: { answer: string | null; answerRef?: string; endReason: string; turns: number; toolCalls: number };
  /** Set when the run failed; details stay in logs (quote the correlation id). */
  error?: { code: string; message: string };
  progress: Pick<RunProgress, 'phase' | 'turn' | 'pendingTools' | 'awaitingApproval' | 'approvals' | 'modelWait'> | null;
  usage: Usage;
  correlationId: string | null;
}

export type RunSummary = Pick<RunView, 'id' | 'agent' | 'status' | 'createdAt' | 'lastUpdatedAt'>;

const UsageSchema = z.object({ inputTokens: z.number(), outputTokens: z.number(), modelCalls: z.number() });
const InputSchema = z.object({
  tenantId: z.string(),
  agent: z.object({ definition: z.object({ id: z.string() }) }).optional(),
  depth: z.number().optional(),
  correlationId: z.string().optional(),
});
const OutputSchema = z.object({
  status: z.string(),
  answer: z.string().nullable().optional(),
  answerRef: z.string().optional(),
  turns: z.number().default(0),
  toolCalls: z.number().default(0),
  usage: UsageSchema.optional(),
});
const ProgressSchema = z.object({
  turn: z.number(),
  phase: z.enum(['model', 'waiting_for_model', 'tools', 'awaiting_approval', 'done']),
  pendingTools: z.array(z.string()).default([]),
  usage: UsageSchema.optional(),
  awaitingApproval: z.array(z.object({ toolCallId: z.string(), tool: z.string(), deadline: z.string() })).optional(),
  approvals: z.array(z.object({ toolCallId: z.string(), tool: z.string(), outcome: z.enum(['approved', 'denied', 'timed_out']), decidedBy: z.string().optional() })).optional(),
  modelWait: z.object({ retryAt: z.string(), reason: z.string(), since: z.string() }).optional(),
});

/** Failure reasons the orchestrator names first in its error text, safe to show callers. */
const PUBLIC_FAILURE_CODES = ['model_unavailable', 'conversation_lost'] as const;

/** The fields of a Durable instance status the API reads. */
export interface InstanceSnapshot {
  instanceId: string;
  /** Orchestrator name, when the status carries it. */
  name: string | undefined;
  runtimeStatus: string;
  createdAt: string | null;
  lastUpdatedAt: string | null;
  input: z.infer<typeof InputSchema> | undefined;
  output: z.infer<typeof OutputSchema> | undefined;
  progress: z.infer<typeof ProgressSchema> | undefined;
  /** For a failed run: a reason code callers may see (see PUBLIC_FAILURE_CODES), when the failure names one. */
  failureCode: string | undefined;
}

function failureCodeOf(output: unknown): string | undefined {
  const text = typeof output === 'string' ? output : JSON.stringify(output ?? '');
  return PUBLIC_FAILURE_CODES.find((code) => text.includes(`${code}:`));
}

function isoOf(value: unknown): string | null {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (typeof value === 'string' && value !== '') {
    const date = new Date(value);
    return Number.isNaN(date.getTime()) ? null : date.toISOString();
  }
  return null;
}

/** Reads a status object (SDK class or raw JSON); undefined when it is not an instance. */
export function snapshotOf(status: unknown): InstanceSnapshot | undefined {
  if (typeof status !== 'object' || status === null) return undefined;
  const s = status as Record<string, unknown>;
  if (typeof s['instanceId'] !== 'string' || s['instanceId'] === '') return undefined;
  const input = InputSchema.safeParse(s['input']);
  const output = OutputSchema.safeParse(s['output']);
  const progress = ProgressSchema.safeParse(s['customStatus']);
  return {
    instanceId: s['instanceId'],
    name: typeof s['name'] === 'string' && s['name'] !== '' ? s['name'] : undefined,
    runtimeStatus: typeof s['runtimeStatus'] === 'string' ? s['runtimeStatus'] : 'Pending',
    createdAt: isoOf(s['createdTime']),
    lastUpdatedAt: isoOf(s['lastUpdatedTime']),
    input: input.success ? input.data : undefined,
    output: output.success ? output.data : undefined,
    progress: progress.success ? progress.data : undefined,
    failureCode: s['runtimeStatus'] === 'Failed' ? failureCodeOf(s['output']) : undefined,
  };
}

/** The user-facing status of an instance. */
export function runStatusOf(snapshot: InstanceSnapshot): RunStatus {
  switch (snapshot.runtimeStatus) {
    case 'Pending':
      return 'Pending';
    case 'Completed':
      return snapshot.output?.status === 'canceled' ? 'Canceled' : 'Completed';
    case 'Failed':
      return 'Failed';
    case 'Terminated':
    case 'Canceled':
      return 'Canceled';
    default:
      // Running, ContinuedAsNew, Suspended: in flight. Approval waits are reported in customStatus.
      return snapshot.progress?.phase === 'awaiting_approval' ? 'AwaitingApproval' : 'Running';
  }
}

export function isFinished(status: RunStatus): boolean {
  return status === 'Completed' || status === 'Failed' || status === 'Canceled';
}

export function runSummaryOf(snapshot: InstanceSnapshot): RunSummary {
  return {
    id: snapshot.instanceId,
    agent: snapshot.input?.agent?.definition.id ?? null,
    status: runStatusOf(snapshot),
    createdAt: snapshot.createdAt,
    lastUpdatedAt: snapshot.lastUpdatedAt,
  };
}

export function runViewOf(snapshot: InstanceSnapshot, tenantId: string): RunView {
  const status = runStatusOf(snapshot);
  const correlationId = snapshot.input?.correlationId ?? null;
  const progress = snapshot.progress;
  const view: RunView = {
    ...runSummaryOf(snapshot),
    tenantId,
    progress: progress
      ? {
          phase: isFinished(status) ? 'done' : progress.phase,
          turn: progress.turn,
          pendingTools: isFinished(status) ? [] : progress.pendingTools,
          ...(progress.awaitingApproval && status === 'AwaitingApproval' ? { awaitingApproval: progress.awaitingApproval } : {}),
          ...(progress.approvals ? { approvals: progress.approvals.map(({ decidedBy, ...a }) => ({ ...a, ...(decidedBy ? { decidedBy } : {}) })) } : {}),
          ...(progress.modelWait && !isFinished(status) ? { modelWait: progress.modelWait } : {}),
        }
      : null,
    usage: snapshot.output?.usage ?? progress?.usage ?? ZERO_USAGE,
    correlationId,
  };
  if (status === 'Completed' && snapshot.output) {
    const o = snapshot.output;
    view.output = { answer: o.answer ?? null, ...(o.answerRef ? { answerRef: o.answerRef } : {}), endReason: o.status, turns: o.turns, toolCalls: o.toolCalls };
  }
  if (status === 'Failed') {
    // The orchestrator's failure text can hold internals; callers get a code and the correlation id.
    const reason =
      snapshot.failureCode === 'model_unavailable'
        ? ' The model could not be reached for longer than the agent tolerates.'
        : snapshot.failureCode === 'conversation_lost'
          ? ' Part of its conversation is missing from storage.'
          : '';
    view.error = { code: snapshot.failureCode ?? 'run_failed', message: `The run failed.${reason}${correlationId ? ` Quote correlation id ${correlationId}.` : ''}` };
  }
  return view;
}
