import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

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
    expect(result).toMatchObject({ status: 'completed' });
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
