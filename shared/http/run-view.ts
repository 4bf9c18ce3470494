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
  progress: Pick<RunProgress, 'phase' | 'turn' | 'pendingTools' | 'awaitingApproval'> | null;
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
  phase: z.enum(['model', 'tools', 'awaiting_approval', 'done']),
  pendingTools: z.array(z.string()).default([]),
  usage: UsageSchema.optional(),
  awaitingApproval: z.array(z.object({ toolCallId: z.string(), tool: z.string(), deadline: z.string() })).optional(),
});

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
    view.error = { code: 'run_failed', message: `The run failed.${correlationId ? ` Quote correlation id ${correlationId}.` : ''}` };
  }
  return view;
}
