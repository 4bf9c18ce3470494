import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig, type ConfigError } from '../../shared/config.js';

const repoRoot = join(import.meta.dirname, '..', '..');

function configProblems(env: Record<string, string>): string[] {
  try {
    parseConfig(env);
  } catch (error) {
    expect((error as ConfigError).name).toBe('ConfigError');
    return [...(error as ConfigError).problems];
  }
  throw new Error('expected a ConfigError');
}

describe('front-door configuration', () => {
  it('runs locally with defaults: multi-tenant, file catalog, dev issuer, local secrets', () => {
    const config = parseConfig({});
    expect(config.tenancy).toEqual({ mode: 'multi' });
    expect(config.tenantCatalog).toMatchObject({ kind: 'file' });
    expect(config.auth).toEqual({
      authority: 'http://127.0.0.1:7073',
      audiences: ['api://durable-agent-pipeline-local'],
      jwksUrl: 'http://127.0.0.1:7073/common/discovery/v2.0/keys',
      clockSkewMs: 60_000,
      jwksCacheMaxAgeMs: 600_000,
      jwksCooldownMs: 30_000,
    });
    expect(config.secrets).toEqual({ kind: 'local-file', path: '.devhost/secrets.json' });
    expect(config.frontDoor).toEqual({ maxBodyBytes: 262_144, defaultRateLimitPerMinute: 600 });
  });

  it('uses Entra ID, Blob and Key Vault when deployed', () => {
    const config = parseConfig({
      APP_ENVIRONMENT: 'prod',
      STORAGE_BLOB_ACCOUNT_URL: 'https://stagents.blob.core.windows.net',
      AZURE_OPENAI_ENDPOINT: 'https://aoai.openai.azure.com',
      AUTH_AUDIENCES: 'api://agents, 00000000-0000-0000-0000-0000000000aa',
      KEY_VAULT_URL: 'https://kv-agents.vault.azure.net',
    });
    expect(config.auth.authority).toBe('https://login.microsoftonline.com');
    expect(config.auth.jwksUrl).toBe('https://login.microsoftonline.com/common/discovery/v2.0/keys');
    expect(config.auth.audiences).toEqual(['api://agents', '00000000-0000-0000-0000-0000000000aa']);
    expect(config.tenantCatalog).toEqual({ kind: 'blob', prefix: 'control-plane/tenants/', cacheTtlMs: 60_000 });
    expect(config.secrets).toEqual({ kind: 'key-vault', vaultUrl: 'https://kv-agents.vault.azure.net', cacheTtlMs: 300_000 });
  });

  it('lists every bad front-door key at once', () => {
    const problems = configProblems({
      APP_ENVIRONMENT: 'prod',
      STORAGE_BLOB_ACCOUNT_URL: 'https://stagents.blob.core.windows.net',
      AZURE_OPENAI_ENDPOINT: 'https://aoai.openai.azure.com',
      TENANCY_MODE: 'single',
      AUTH_AUTHORITY: 'http://127.0.0.1:7073',
      SECRETS_PROVIDER: 'local-file',
      HTTP_MAX_BODY_BYTES: 'big',
      RATE_LIMIT_DEFAULT_PER_MINUTE: '0',
      AUTH_CLOCK_SKEW_MS: '-1',
      TENANT_CATALOG_BLOB_PREFIX: 'tenants/catalog/',
    });
    const keys = problems.map((p) => p.split(':')[0]);
    expect(keys).toEqual(
      expect.arrayContaining([
        'SINGLE_TENANT_ID',
        'AUTH_AUTHORITY',
        'AUTH_AUDIENCES',
        'SECRETS_PROVIDER',
        'HTTP_MAX_BODY_BYTES',
        'RATE_LIMIT_DEFAULT_PER_MINUTE',
        'AUTH_CLOCK_SKEW_MS',
        'TENANT_CATALOG_BLOB_PREFIX',
      ]),
    );
    expect(problems.join('\n')).toContain('AUTH_AUTHORITY: must be https in prod');
  });

  it('requires a Key Vault URL for the key-vault provider and a valid single tenant id', () => {
    const keys = configProblems({ SECRETS_PROVIDER: 'key-vault', TENANCY_MODE: 'single', SINGLE_TENANT_ID: 'Bad--Tenant' }).map((p) => p.split(':')[0]);
    expect(keys).toEqual(expect.arrayContaining(['KEY_VAULT_URL', 'SINGLE_TENANT_ID']));
  });

  it('wires single-tenant mode through the composition root', async () => {
    // The composition root builds process-wide deps at import: point it at this checkout first.
    Object.assign(process.env, { AGENTS_DIR: join(repoRoot, 'agents'), TENANT_CATALOG_FILE: join(repoRoot, 'tenants', 'tenants.local.yaml') });
    const { createDeps } = await import('../../shared/composition-root.js');
    const base = { AGENTS_DIR: join(repoRoot, 'agents'), TENANT_CATALOG_FILE: join(repoRoot, 'tenants', 'tenants.local.yaml') };
    const single = createDeps(parseConfig({ ...base, TENANCY_MODE: 'single', SINGLE_TENANT_ID: 'fabrikam' }));
    expect((await single.tenants.get('fabrikam'))?.id).toBe('fabrikam');
    expect(await single.tenants.get('contoso')).toBeUndefined();
    const multi = createDeps(parseConfig(base));
    expect((await multi.tenants.get('contoso'))?.id).toBe('contoso');
    expect(() => createDeps(parseConfig({ ...base, TENANCY_MODE: 'single', SINGLE_TENANT_ID: 'globex' }))).toThrow(/SINGLE_TENANT_ID "globex" is not in the catalog/);
  });
});
