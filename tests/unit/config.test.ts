import { describe, expect, it } from 'vitest';
import type { ConfigError } from '../../shared/config.js';
import { parseConfig } from '../../shared/config.js';

describe('configuration', () => {
  it('runs locally on embedded defaults', () => {
    const config = parseConfig({});
    expect(config.environment).toBe('local');
    expect(config.blob).toMatchObject({ kind: 'connection-string', connectionString: 'UseDevelopmentStorage=true' });
    expect(config.model).toEqual({ kind: 'openai-compatible', baseUrl: 'http://127.0.0.1:7072/v1' });
  });

  it('lists every bad key at once', () => {
    let error: ConfigError | undefined;
    try {
      parseConfig({ APP_ENVIRONMENT: 'prod', AGENT_REQUEST_MAX_BYTES: 'lots', STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true', STORAGE_CONTAINER: 'Bad_Name' });
    } catch (e) {
      error = e as ConfigError;
    }
    expect(error?.name).toBe('ConfigError');
    const keys = error?.problems.map((p) => p.split(':')[0]);
    expect(keys).toEqual(expect.arrayContaining(['AGENT_REQUEST_MAX_BYTES', 'STORAGE_CONTAINER']));
  });

  it('refuses connection strings and requires identity endpoints outside local', () => {
    let error: ConfigError | undefined;
    try {
      parseConfig({ APP_ENVIRONMENT: 'prod', STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true' });
    } catch (e) {
      error = e as ConfigError;
    }
    const text = error?.problems.join('\n') ?? '';
    expect(text).toContain('STORAGE_CONNECTION_STRING: connection strings are local-only');
    expect(text).toContain('STORAGE_BLOB_ACCOUNT_URL: required in prod');
    expect(text).toContain('AZURE_OPENAI_ENDPOINT: required');
  });

  it('accepts an identity-based production configuration', () => {
    const config = parseConfig({
      APP_ENVIRONMENT: 'prod',
      STORAGE_BLOB_ACCOUNT_URL: 'https://stagents.blob.core.windows.net',
      AZURE_OPENAI_ENDPOINT: 'https://aoai-agents.openai.azure.com',
      AZURE_CLIENT_ID: '00000000-0000-0000-0000-000000000001',
      AUTH_AUDIENCES: 'api://agents',
      KEY_VAULT_URL: 'https://kv-agents.vault.azure.net',
    });
    expect(config.blob.kind).toBe('identity');
    expect(config.model.kind).toBe('azure');
    expect(config.runEventsFile).toBeUndefined();
  });
});

describe('local.settings.sample.json', () => {
  it('parses as a valid local configuration and holds no secrets', async () => {
    const { readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const text = readFileSync(join(import.meta.dirname, '..', '..', 'local.settings.sample.json'), 'utf8');
    const values = (JSON.parse(text) as { Values: Record<string, string> }).Values;
    expect(parseConfig(values).environment).toBe('local');
    expect(text).not.toMatch(/AccountKey=|SharedAccessKey=|client_secret|-----BEGIN/i);
  });

  it('names every setting the config schema reads (in Values, or under NotSetLocally)', async () => {
    const { readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { CONFIG_SETTING_NAMES } = await import('../../shared/config.js');
    const sample = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'local.settings.sample.json'), 'utf8')) as {
      Values: Record<string, string>;
      NotSetLocally: Record<string, string>;
    };
    const named = new Set([...Object.keys(sample.Values), ...Object.keys(sample.NotSetLocally)]);
    expect(CONFIG_SETTING_NAMES.length).toBeGreaterThan(50);
    expect(CONFIG_SETTING_NAMES.filter((name) => !named.has(name))).toEqual([]);
  });
});
