import { describe, expect, it } from 'vitest';
import { runViewOf, snapshotOf } from '../../shared/http/run-view.js';

const input = { tenantId: 'contoso', agent: { definition: { id: 'support-triage' } }, depth: 0, correlationId: 'corr-9' };

describe('run view', () => {
  it('shows a run waiting out a model outage, with when it tries again', () => {
    const snapshot = snapshotOf({
      instanceId: 'contoso--r1',
      runtimeStatus: 'Running',
      input,
      customStatus: {
        turn: 2,
        phase: 'waiting_for_model',
        pendingTools: [],
        modelWait: { retryAt: '2026-12-02T10:00:05.000Z', reason: 'all_deployments_failed: 429', since: '2026-12-02T10:00:00.000Z' },
      },
    });
    const view = runViewOf(snapshot!, 'contoso');
    expect(view.status).toBe('Running');
    expect(view.progress).toMatchObject({ phase: 'waiting_for_model', modelWait: { retryAt: '2026-12-02T10:00:05.000Z' } });
  });

  it('shows an approval that timed out as its own outcome', () => {
    const snapshot = snapshotOf({
      instanceId: 'contoso--r2',
      runtimeStatus: 'Running',
      input,
      customStatus: { turn: 1, phase: 'tools', pendingTools: [], approvals: [{ toolCallId: 'c1', tool: 'send_reply', outcome: 'timed_out' }] },
    });
    expect(runViewOf(snapshot!, 'contoso').progress?.approvals).toEqual([{ toolCallId: 'c1', tool: 'send_reply', outcome: 'timed_out' }]);
  });

  it('names model_unavailable and conversation_lost failures, and nothing else of the failure text', () => {
    const failed = (output: string) => runViewOf(snapshotOf({ instanceId: 'contoso--r3', runtimeStatus: 'Failed', input, output })!, 'contoso').error;
    expect(failed('Orchestrator function failed: model_unavailable: no model answer for 601 s (...); last: secret internals')).toEqual({
      code: 'model_unavailable',
      message: 'The run failed. The model could not be reached for longer than the agent tolerates. Quote correlation id corr-9.',
    });
    expect(failed('conversation_lost: conversation message 3 of run x is missing')?.code).toBe('conversation_lost');
    expect(failed('TypeError: boom at /internal/path')).toEqual({ code: 'run_failed', message: 'The run failed. Quote correlation id corr-9.' });
  });
});
