import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentRunInput } from '../../shared/agent-runtime/run-types.js';
import { expectAuditedOnce, expectConsistentRun, expectMeteredOnce, faultAgent, faultRuns, isDone, startFaultStack, type FaultStack, type RunStatus } from './fault-kit.js';

/**
 * The devhost killed (SIGKILL, at crash points: see devhost/host/crash-points.ts) at each step
 * boundary of agent runs in flight, then restarted on the same state. The offline model gives
 * fresh tool-call ids and rejects tool messages that answer no call, as Azure OpenAI does, so a
 * re-run step that acted on another answer than the stored one fails the run here.
 *
 * Each run: turn 1 asks for `send_reply` and `current_time` in parallel, turn 2 answers; the agent
 * continues as new after every turn, so each run crosses a continue-as-new boundary too.
 */

/** Continue-as-new after every turn, so each run crosses that boundary too. */
const CRASH_LIMITS = { continueAsNewEveryTurns: 1, modelRetryIntervalMs: 50 };

let stack: FaultStack;
beforeAll(async () => {
  stack = await startFaultStack();
}, 60_000);
afterAll(async () => {
  await stack?.stop();
});

/** Starts `inputs` on a host that dies at `crashAfter`, restarts it clean, and waits for every run. */
async function crashAndRecover(crashAfter: string, inputs: AgentRunInput[]): Promise<Map<string, RunStatus>> {
  const doomed = await stack.startHost({ crashAfter });
  for (const input of inputs) await doomed.api.start(input);
  // The signal that the fault happened: the process died by SIGKILL at the crash point.
  expect(await doomed.exited).toBe('SIGKILL');
  const host = await stack.startHost();
  try {
    return await host.api.waitAll(
      inputs.map((i) => i.runId),
      isDone,
      90_000,
    );
  } finally {
    await host.spawned.stop();
  }
}

async function expectAllConsistent(inputs: AgentRunInput[], statuses: Map<string, RunStatus>, approvalActs: Record<string, number> = {}): Promise<void> {
  for (const input of inputs) {
    const status = statuses.get(input.runId);
    expect(status?.runtimeStatus, `${input.runId}: ${JSON.stringify(status?.output)}`).toBe('Completed');
    expect(status?.output).toMatchObject({ status: 'completed', turns: 2, toolCalls: 2 });
    const { sends } = await expectConsistentRun(stack.container, 'contoso', input.runId);
    expect(sends).toBe(1);
  }
  // Steps that ran again after the kill reported their acts again: each is recorded once.
  await expectAuditedOnce(
    stack.azurite.connectionString,
    'contoso',
    inputs.map((i) => i.runId),
    { 'run.started': 1, 'model.called': 2, 'tool.executed': 2, 'run.completed': 1, ...approvalActs },
  );
  // ... and metered once: the usage ledger holds one entry per event, whatever ran again.
  await expectMeteredOnce(
    stack.azurite.connectionString,
    'contoso',
    inputs.map((i) => i.runId),
    { 'runs.started': 1, 'tool.calls': 2, 'runs.completed': 1 },
  );
  // No request the model refused: every conversation it saw was well formed.
  expect(
    stack.model
      .requests()
      .filter((r) => r.status === 400)
      .map((r) => JSON.stringify(r.body).slice(0, 300)),
  ).toEqual([]);
}

describe('agent runs killed at each step boundary', () => {
  it('after a model answer was stored (the step runs again and must act on the stored answer)', async () => {
    const inputs = faultRuns(6, faultAgent({ limits: CRASH_LIMITS }), 'fault');
    await expectAllConsistent(inputs, await crashAndRecover('agentCallModel#4', inputs));
  }, 180_000);

  it('after tool results were produced', async () => {
    const inputs = faultRuns(6, faultAgent({ limits: CRASH_LIMITS }), 'fault');
    await expectAllConsistent(inputs, await crashAndRecover('agentRunTool#5', inputs));
  }, 180_000);

  it('at continue-as-new (the episode that decided it, before it was stored)', async () => {
    const inputs = faultRuns(6, faultAgent({ limits: CRASH_LIMITS }), 'fault');
    await expectAllConsistent(inputs, await crashAndRecover('agentRun~"actionType":4#2', inputs));
  }, 180_000);

  it('during an approval wait: the decision after the restart is applied and the reply sent once', async () => {
    const inputs = faultRuns(4, faultAgent({ approval: 'required', limits: CRASH_LIMITS }), 'fault');
    const first = await stack.startHost();
    for (const input of inputs) await first.api.start(input);
    const waiting = await first.api.waitAll(
      inputs.map((i) => i.runId),
      (s) => (s?.customStatus as { phase?: string } | null)?.phase === 'awaiting_approval',
    );
    await first.spawned.kill();

    const host = await stack.startHost();
    try {
      for (const input of inputs) {
        const pending = (waiting.get(input.runId)?.customStatus as { awaitingApproval: { toolCallId: string }[] }).awaitingApproval;
        expect(pending).toHaveLength(1);
        await host.api.raise(input.runId, 'approval', { toolCallId: pending[0]?.toolCallId, approved: true, decidedBy: 'faults' });
      }
      const done = await host.api.waitAll(
        inputs.map((i) => i.runId),
        isDone,
        90_000,
      );
      await expectAllConsistent(inputs, done, { 'approval.requested': 1, 'approval.decided': 1 });
    } finally {
      await host.spawned.stop();
    }
  }, 180_000);
});
