import { isFinished, runViewOf, snapshotOf, type RunStatus } from '../shared/http/run-view.js';
import { ZERO_USAGE, type Usage } from '../shared/agent-runtime/run-types.js';

/**
 * What `npm run agent` reports, in the runs API's vocabulary (`GET /api/runs/{id}`, see
 * shared/http/run-view.ts): `status` is the run status (Pending, Running, AwaitingApproval,
 * Completed, Failed, Canceled) and `endReason` why a finished run ended (completed, max_turns,
 * budget_exhausted, canceled), never one folded into the other.
 */
export interface AgentRunResult {
  runId: string;
  status: RunStatus;
  /** Set once the run has ended (Completed or Canceled); null while it runs or when it failed. */
  endReason: string | null;
  answer: string | null;
  turns: number;
  toolCalls: number;
  usage: Usage;
  /**
   * A failed run: the runs API's code and message, plus `detail`, the orchestrator's failure text
   * (the API keeps that in logs; this is a local tool). `cli_timeout`: the run had not finished
   * when `--timeout-ms` ran out (`status` is where it was).
   */
  error?: { code: string; message: string; detail?: string };
}

/**
 * Builds the result from the durable instance status (as `GET .../instances/{id}` returns it)
 * the CLI last saw; `undefined` when it saw none. `timedOut`: the CLI stopped waiting.
 */
export function agentRunResult(runId: string, tenantId: string, instanceStatus: unknown, timedOut: boolean): AgentRunResult {
  const snapshot = snapshotOf(instanceStatus);
  const view = snapshot ? runViewOf(snapshot, tenantId) : undefined;
  const status = view?.status ?? 'Pending';
  const result: AgentRunResult = {
    runId,
    status,
    endReason: view?.output?.endReason ?? (status === 'Canceled' ? 'canceled' : null),
    answer: view?.output?.answer ?? null,
    turns: view?.output?.turns ?? view?.progress?.turn ?? 0,
    toolCalls: view?.output?.toolCalls ?? 0,
    usage: view?.usage ?? ZERO_USAGE,
  };
  if (view?.error) {
    const raw = (instanceStatus as { output?: unknown }).output;
    const detail = typeof raw === 'string' ? raw : raw === undefined || raw === null ? undefined : JSON.stringify(raw);
    result.error = { ...view.error, ...(detail ? { detail } : {}) };
  } else if (timedOut && !isFinished(status)) {
    result.error = { code: 'cli_timeout', message: `The run was still ${status} when the CLI stopped waiting (--timeout-ms).` };
  }
  return result;
}

/** True only for a run that completed because the agent finished (exit code 0). */
export function succeeded(result: AgentRunResult): boolean {
  return result.status === 'Completed' && result.endReason === 'completed';
}

/** The human-readable summary lines (the same fields as `--json`). */
export function describeResult(result: AgentRunResult): string[] {
  const lines = [
    '',
    `status: ${result.status}${result.endReason ? ` (end reason: ${result.endReason})` : ''}, turns: ${result.turns}, tool calls: ${result.toolCalls}`,
    `usage: ${result.usage.modelCalls} model calls, ${result.usage.inputTokens} input + ${result.usage.outputTokens} output tokens`,
  ];
  if (result.error) lines.push(`error: ${result.error.code}: ${result.error.message}${result.error.detail ? `\n  ${result.error.detail}` : ''}`);
  if (result.answer !== null) lines.push('', result.answer);
  return lines;
}
