import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { agentRunResult, describeResult, succeeded } from '../../tools/agent-run-result.js';

const root = join(import.meta.dirname, '..', '..');

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', join(root, 'dist-dev', 'tools', 'agent-cli.js'), ...args], {
      cwd: root,
      env: process.env,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('npm run agent', () => {
  it('runs support-triage end to end with tool calls and usage, printing one JSON result', async () => {
    const { code, stdout, stderr } = await runCli(['support-triage', 'Our monthly CSV export is empty since the 4.2 update. Can you help before Friday?', '--json']);
    expect(stderr).not.toContain('agent run failed');
    expect(code).toBe(0);
    const result = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
    expect(result).toMatchObject({ status: 'Completed', endReason: 'completed', runId: expect.stringMatching(/^contoso--/) });
    expect(result['toolCalls']).toBeGreaterThan(0);
    expect(result['usage']).toMatchObject({ modelCalls: expect.any(Number), inputTokens: expect.any(Number) });
    expect(typeof result['answer']).toBe('string');
  }, 60_000);

  it('exits non-zero with usage when arguments are missing', async () => {
    const { code, stderr } = await runCli([]);
    expect(code).toBe(2);
    expect(stderr).toContain('Usage: npm run agent');
  });
});

/** The runs API's vocabulary (shared/http/run-view.ts), from hand-built instance statuses. */
describe('npm run agent result', () => {
  const usage = { inputTokens: 10, outputTokens: 5, modelCalls: 2 };
  const input = { tenantId: 'contoso', agent: { definition: { id: 'a' } }, correlationId: 'corr-1' };
  const instance = (runtimeStatus: string, output: unknown, customStatus: unknown = null): unknown => ({
    instanceId: 'contoso--r1',
    name: 'agentRun',
    runtimeStatus,
    createdTime: '2024-05-01T00:00:00Z',
    lastUpdatedTime: '2024-05-01T00:00:01Z',
    input,
    output,
    customStatus,
  });

  it('reports status and end reason apart, as GET /api/runs/{id} does', () => {
    const done = agentRunResult('contoso--r1', 'contoso', instance('Completed', { status: 'completed', answer: 'hi', turns: 2, toolCalls: 1, usage }), false);
    expect(done).toEqual({ runId: 'contoso--r1', status: 'Completed', endReason: 'completed', answer: 'hi', turns: 2, toolCalls: 1, usage });
    expect(succeeded(done)).toBe(true);
    const maxTurns = agentRunResult('contoso--r1', 'contoso', instance('Completed', { status: 'max_turns', answer: null, turns: 10, toolCalls: 9, usage }), false);
    expect(maxTurns).toMatchObject({ status: 'Completed', endReason: 'max_turns' });
    expect(succeeded(maxTurns)).toBe(false);
    expect(agentRunResult('contoso--r1', 'contoso', instance('Completed', { status: 'canceled', answer: null, turns: 1, toolCalls: 0, usage }), false)).toMatchObject({
      status: 'Canceled',
      endReason: 'canceled',
    });
    expect(agentRunResult('contoso--r1', 'contoso', instance('Terminated', 'stopped by admin'), false)).toMatchObject({ status: 'Canceled', endReason: 'canceled' });
  });

  it('gives a failed run the API error code plus the local failure detail', () => {
    const failed = agentRunResult('contoso--r1', 'contoso', instance('Failed', 'model_unavailable: primary and secondary down'), false);
    expect(failed).toMatchObject({ status: 'Failed', endReason: null, error: { code: 'model_unavailable', detail: 'model_unavailable: primary and secondary down' } });
    expect(describeResult(failed).join('\n')).toContain('status: Failed, turns: 0');
  });

  it('names a CLI timeout without inventing a status', () => {
    const progress = { turn: 1, phase: 'awaiting_approval', pendingTools: [], usage, awaitingApproval: [{ toolCallId: 't1', tool: 'x', deadline: '2024-05-01T01:00:00Z' }] };
    expect(agentRunResult('contoso--r1', 'contoso', instance('Running', null, progress), true)).toMatchObject({
      status: 'AwaitingApproval',
      endReason: null,
      turns: 1,
      error: { code: 'cli_timeout' },
    });
    expect(agentRunResult('contoso--r1', 'contoso', undefined, true)).toMatchObject({ status: 'Pending', error: { code: 'cli_timeout' } });
  });

  it('prints the same fields for people', () => {
    const lines = describeResult(agentRunResult('contoso--r1', 'contoso', instance('Completed', { status: 'completed', answer: 'hi', turns: 2, toolCalls: 1, usage }), false));
    expect(lines).toContain('status: Completed (end reason: completed), turns: 2, tool calls: 1');
    expect(lines.at(-1)).toBe('hi');
  });
});
