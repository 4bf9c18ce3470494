import { describe, expect, it } from 'vitest';
import { parseConfig, type ConfigError } from '../../shared/config.js';

const deployed = {
  APP_ENVIRONMENT: 'prod',
  STORAGE_BLOB_ACCOUNT_URL: 'https://acct.blob.core.windows.net',
  AZURE_OPENAI_ENDPOINT: 'https://aoai.openai.azure.com',
  AUTH_AUDIENCES: 'api://pipeline',
  KEY_VAULT_URL: 'https://kv.vault.azure.net',
};

describe('bot and batch settings', () => {
  it('defaults locally to no bot, a static connector token and the local schedules file', () => {
    const config = parseConfig({});
    expect(config.bot).toMatchObject({ appId: undefined, issuer: 'https://api.botframework.com', connectorToken: { kind: 'static' }, requireHttpsServiceUrl: false });
    expect(config.batch).toMatchObject({ schedulerSchedule: '0 */1 * * * *', catchUpMs: 300_000, schedules: { kind: 'file' } });
  });

  it('uses identity and Blob when deployed', () => {
    const config = parseConfig({ ...deployed, BOT_APP_ID: 'bot-app' });
    expect(config.bot).toMatchObject({ appId: 'bot-app', connectorToken: { kind: 'identity' }, requireHttpsServiceUrl: true });
    expect(config.batch.schedules).toEqual({ kind: 'blob', path: 'control-plane/schedules.yaml' });
  });

  it('lists every bad bot and batch key at once', () => {
    let error: unknown;
    try {
      parseConfig({
        ...deployed,
        BOT_OPENID_METADATA_URL: 'http://login.example/metadata',
        BOT_CONNECTOR_TOKEN_SOURCE: 'static',
        BATCH_SCHEDULES_BLOB: 'tenants/contoso/schedules.yaml',
        BATCH_SCHEDULER_SCHEDULE: '*/5 * * * *',
      });
    } catch (e) {
      error = e;
    }
    expect((error as ConfigError).name).toBe('ConfigError');
    const keys = (error as ConfigError).problems.map((p) => p.split(':')[0]);
    expect(keys).toEqual(expect.arrayContaining(['BOT_OPENID_METADATA_URL', 'BOT_CONNECTOR_TOKEN_SOURCE', 'BATCH_SCHEDULES_BLOB', 'BATCH_SCHEDULER_SCHEDULE']));
  });
});
