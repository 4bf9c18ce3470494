import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

// The CI/CD workflows and azure.yaml cannot run here; they must at least be valid YAML and call
// only scripts and files that exist. No compiler needed.

type Step = { run?: string; uses?: string; with?: Record<string, unknown> };
type Job = { steps?: Step[]; uses?: string; needs?: string | string[]; environment?: string; permissions?: Record<string, string>; if?: string; with?: Record<string, unknown> };
type Workflow = { on: unknown; jobs: Record<string, Job>; permissions?: Record<string, string> };

const WORKFLOW_DIR = '.github/workflows';
const scripts = (JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> }).scripts;
const workflows = readdirSync(WORKFLOW_DIR)
  .filter((f) => /\.ya?ml$/.test(f))
  .map((f) => ({ file: f, text: readFileSync(join(WORKFLOW_DIR, f), 'utf8') }));

/** Problems with the commands in a shell snippet: unknown npm scripts, missing files. */
function commandProblems(run: string): string[] {
  const problems: string[] = [];
  for (const [, name] of run.matchAll(/npm run (?:-s |--silent )?([A-Za-z0-9:_-]+)/g)) {
    if (name && !(name in scripts)) problems.push(`npm run ${name}: no such script`);
  }
  for (const [, file] of run.matchAll(/(?:bash|node|sh) ((?:\.\/)?[\w./-]+\.(?:sh|mjs|js)|\.ci\/run)/g)) {
    if (file && !existsSync(file)) problems.push(`${file}: no such file`);
  }
  for (const [, file] of run.matchAll(/(infra\/[\w./-]+\.(?:bicepparam|bicep|json))\b/g)) {
    if (file && !existsSync(file)) problems.push(`${file}: no such file`);
  }
  return problems;
}

describe('GitHub workflows', () => {
  it('exist and parse as YAML with jobs', () => {
    expect(workflows.length).toBeGreaterThan(0);
    for (const { file, text } of workflows) {
      const wf = parse(text) as Workflow;
      expect(wf.jobs, file).toBeTypeOf('object');
      expect(Object.keys(wf.jobs).length, file).toBeGreaterThan(0);
    }
  });

  it('call only npm scripts, files and reusable workflows that exist', () => {
    for (const { file, text } of workflows) {
      const wf = parse(text) as Workflow;
      for (const [name, job] of Object.entries(wf.jobs)) {
        if (job.uses?.startsWith('./')) expect(existsSync(job.uses), `${file} ${name}: ${job.uses}`).toBe(true);
        for (const step of job.steps ?? []) {
          // Each environment the reusable workflow is called with.
          for (const env of ['dev', 'staging', 'prod']) {
            const run = step.run?.replace(/\$\{\{\s*inputs\.environment\s*\}\}/g, env).replace(/\$\{\{[^}]*\}\}/g, 'x');
            if (run) expect(commandProblems(run), `${file} ${name}`).toEqual([]);
          }
        }
      }
    }
  });

  it('sign in to Azure with OIDC only: no stored secret, id-token permission where deploying', () => {
    for (const { file, text } of workflows) {
      expect(text, file).not.toMatch(/secrets\.(?!GITHUB_TOKEN)/);
      expect(text, file).not.toMatch(/client-secret|AZURE_CREDENTIALS|creds:/i);
    }
    const env = parse(readFileSync(join(WORKFLOW_DIR, 'deploy-environment.yml'), 'utf8')) as Workflow;
    expect(env.permissions?.['id-token']).toBe('write');
    const login = Object.values(env.jobs).flatMap((j) => j.steps ?? []).find((s) => s.uses?.startsWith('azure/login@'));
    expect(login?.with).toMatchObject({ 'client-id': expect.any(String), 'tenant-id': expect.any(String), 'subscription-id': expect.any(String) });
  });

  it('tests and builds the infra first, then dev on main, then staging, then prod, each in its GitHub environment', () => {
    const wf = parse(readFileSync(join(WORKFLOW_DIR, 'deploy.yml'), 'utf8')) as Workflow;
    const test = wf.jobs.test;
    expect(test?.steps?.map((s) => s.run).join('\n')).toMatch(/\.ci\/run/);
    expect(wf.jobs['deploy-dev']?.needs).toBe('test');
    expect(wf.jobs['deploy-dev']?.if).toContain("refs/heads/main");
    expect(wf.jobs['deploy-staging']?.needs).toBe('deploy-dev');
    expect(wf.jobs['deploy-prod']?.needs).toBe('deploy-staging');
    for (const env of ['dev', 'staging', 'prod']) {
      const job = wf.jobs[`deploy-${env}`];
      expect(job?.with?.environment).toBe(env);
      expect(existsSync(`infra/env/${env}.bicepparam`)).toBe(true);
    }
    const reusable = parse(readFileSync(join(WORKFLOW_DIR, 'deploy-environment.yml'), 'utf8')) as Workflow;
    expect(Object.values(reusable.jobs)[0]?.environment).toBe('${{ inputs.environment }}');
  });
});

describe('azure.yaml', () => {
  const azure = parse(readFileSync('azure.yaml', 'utf8')) as {
    infra: { provider: string; path: string; module: string };
    services: Record<string, { host: string; language: string; dist?: string; hooks?: Record<string, { run: string }> }>;
  };

  it('provisions infra/main.bicep with azd-style parameters', () => {
    expect(azure.infra).toMatchObject({ provider: 'bicep', path: 'infra', module: 'main' });
    const params = JSON.parse(readFileSync('infra/main.parameters.json', 'utf8')) as { parameters: Record<string, { value: unknown }> };
    expect(params.parameters.environmentName?.value).toBe('${AZURE_ENV_NAME}');
    expect(params.parameters.location?.value).toBe('${AZURE_LOCATION}');
  });

  it('deploys the api service (azd-service-name) to Functions from the staged package, with hooks that exist', () => {
    const api = azure.services.api;
    expect(api?.host).toBe('function');
    expect(api?.dist).toBe('dist/function-app');
    for (const hook of Object.values(api?.hooks ?? {})) expect(commandProblems(hook.run)).toEqual([]);
    expect(api?.hooks?.prepackage?.run).toContain('npm run package:function-app');
    expect(readFileSync('infra/modules/function-app.bicep', 'utf8')).toContain("'azd-service-name': 'api'");
  });

  it('the staged package holds what the app runs and nothing of the devhost, tests or bench', () => {
    const source = readFileSync('scripts/package-function-app.mjs', 'utf8');
    expect(source).toMatch(/'dist\/functions', 'dist\/shared'/);
    expect(source).toMatch(/--omit=dev/);
    expect(source).not.toMatch(/'(devhost|tests|bench|dist\/devhost|dist\/bench)'/);
  });
});
