import { ESLint } from 'eslint';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');

async function lintAsOrchestrator(code: string): Promise<string[]> {
  // The probe is not a file on disk, so the type-aware rules (which need it in a TS project) are off here.
  const eslint = new ESLint({
    cwd: root,
    overrideConfig: {
      languageOptions: { parserOptions: { project: null } },
      rules: { '@typescript-eslint/no-floating-promises': 'off', '@typescript-eslint/await-thenable': 'off', '@typescript-eslint/switch-exhaustiveness-check': 'off' },
    },
  });
  const [result] = await eslint.lintText(code, { filePath: join(root, 'shared', 'orchestrators', 'probe.ts') });
  return (result?.messages ?? []).map((m) => m.message);
}

describe('orchestrator lint zone (DESIGN.md section 5)', () => {
  it('rejects clock, randomness, env, timers and I/O imports', async () => {
    const messages = await lintAsOrchestrator(
      [
        "import { readFileSync } from 'node:fs';",
        "import { deps } from '../composition-root.js';",
        'export const a = Date.now();',
        'export const b = new Date();',
        'export const c = Math.random();',
        "export const d = process.env['X'];",
        'setTimeout(() => {}, 1);',
        'export const e = [readFileSync, deps];',
      ].join('\n'),
    );
    expect(messages).toEqual(
      expect.arrayContaining([
        expect.stringContaining('Orchestrators do no I/O'),
        expect.stringContaining('never from config'),
        expect.stringContaining('currentUtcDateTime'),
        expect.stringContaining('newGuid'),
        expect.stringContaining('Orchestrators take settings from their input'),
        expect.stringContaining('createTimer'),
      ]),
    );
    expect(messages.filter((m) => m.includes('currentUtcDateTime'))).toHaveLength(2);
  });

  it('accepts deterministic code', async () => {
    const messages = await lintAsOrchestrator('export const f = (iso: string): Date => new Date(iso);\n');
    expect(messages).toEqual([]);
  });
});
