import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadApp } from '../../devhost/host/app-loader.js';
import { readHostJson, resolveAppSettings } from '../../devhost/host/app-settings.js';
import { startDevhost } from '../../devhost/host/host.js';
import { localStackSettings, startLocalStack } from '../../tools/local-stack.js';

/**
 * One precedence for settings: the process environment, then local.settings.json, then defaults
 * (host.json as written, then the devhost's). The fixture's local.settings.json is checked in.
 */

const appDir = join(import.meta.dirname, '..', 'fixtures', 'settings-app');
const JOB_HOST_ACTIVITIES = 'AzureFunctionsJobHost__extensions__durableTask__maxConcurrentActivityFunctions';

let saved: NodeJS.ProcessEnv;
beforeEach(() => {
  saved = { ...process.env };
  for (const name of [
    JOB_HOST_ACTIVITIES,
    'AzureFunctionsJobHost__extensions__serviceBus__maxConcurrentCalls',
    'DURABLE_TASK_HUB_NAME',
    'SETTINGS_APP_GREETING',
    'MODEL_BASE_URL',
    'MODEL_PROVIDER',
    'STORAGE_CONTAINER',
    'AUTH_AUTHORITY',
    'STORAGE_CONNECTION_STRING',
  ]) {
    delete process.env[name];
  }
});
afterEach(() => {
  for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
  Object.assign(process.env, saved);
});

describe('settings precedence at load', () => {
  it('applies an AzureFunctionsJobHost__ override from local.settings.json to host.json', async () => {
    const app = await loadApp(appDir);
    expect(app.hostJson.extensions?.durableTask?.maxConcurrentActivityFunctions).toBe(3);
    expect(app.hostJson.extensions?.serviceBus?.maxConcurrentCalls).toBe(2);
  });

  it('lets an environment variable beat local.settings.json, for app settings and host.json overrides alike', async () => {
    process.env[JOB_HOST_ACTIVITIES] = '5';
    process.env['SETTINGS_APP_GREETING'] = 'from the environment';
    const app = await loadApp(appDir);
    expect(app.hostJson.extensions?.durableTask?.maxConcurrentActivityFunctions).toBe(5);
    expect(process.env['SETTINGS_APP_GREETING']).toBe('from the environment');
    expect(resolveAppSettings(appDir)['SETTINGS_APP_GREETING']).toBe('from the environment');
  });

  it('resolves %DURABLE_TASK_HUB_NAME% in host.json from local.settings.json, or from the environment first', async () => {
    expect((await loadApp(appDir)).hostJson.extensions?.durableTask?.hubName).toBe('settingsapphub');
    process.env['DURABLE_TASK_HUB_NAME'] = 'envhub';
    expect((await loadApp(appDir)).hostJson.extensions?.durableTask?.hubName).toBe('envhub');
  });

  it('drops a %reference% to a setting nobody sets, so the default applies, and says so', () => {
    const warnings: string[] = [];
    const hostJson = readHostJson(appDir, {}, (message) => warnings.push(message));
    expect(hostJson.extensions?.durableTask?.hubName).toBeUndefined();
    expect(hostJson.extensions?.durableTask?.maxConcurrentActivityFunctions).toBe(8);
    expect((hostJson.extensions?.serviceBus?.['clientRetryOptions'] as Record<string, unknown>)['delay']).toBeUndefined();
    expect(warnings).toEqual([expect.stringContaining('extensions.durableTask.hubName is "%DURABLE_TASK_HUB_NAME%"'), expect.stringContaining('SETTINGS_APP_UNSET_DELAY')]);
  });

  it('serves the app with local.settings.json values it reads at invocation', async () => {
    const devhost = await startDevhost({ appDir, port: 0, storage: 'memory', logLevel: 'error' });
    try {
      const res = await fetch(`${devhost.url}/api/greeting`);
      expect(await res.text()).toBe('from local.settings.json');
    } finally {
      await devhost.stop();
    }
  });
});

describe('the local stack fills in only what neither the environment nor local.settings.json sets', () => {
  const started = {
    devIssuerUrl: 'http://127.0.0.1:7073',
    azuriteConnectionString: 'DefaultEndpointsProtocol=http;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1',
    offlineModelUrl: 'http://127.0.0.1:7072/v1',
    port: 7071,
    storage: '/tmp/x/.devhost/devhost.db',
  };

  it('keeps a setting the user set and fills in the others', () => {
    const { fill, kept } = localStackSettings({ MODEL_BASE_URL: 'http://127.0.0.1:9/v1', AUTH_AUTHORITY: started.devIssuerUrl }, started);
    expect(fill).toEqual({
      STORAGE_CONNECTION_STRING: started.azuriteConnectionString,
      DURABLE_TASK_HUB_NAME: 'agentpipelinelocal',
      LOCAL_SERVICEBUS_ADMIN_URL: 'http://127.0.0.1:7071',
      LOCAL_SERVICEBUS_ADMIN_KEY_FILE: '/tmp/x/.devhost/keys.json',
    });
    expect(kept).toEqual(['MODEL_BASE_URL']);
  });

  it('sets no model URL for Azure OpenAI and no local reply queues with a real namespace', () => {
    const { fill } = localStackSettings({ MODEL_PROVIDER: 'azure-openai', SERVICEBUS_FULLY_QUALIFIED_NAMESPACE: 'ns.servicebus.windows.net' }, started);
    expect(Object.keys(fill).sort()).toEqual(['AUTH_AUTHORITY', 'DURABLE_TASK_HUB_NAME', 'STORAGE_CONNECTION_STRING']);
  });

  it('under startLocalStack, a MODEL_BASE_URL from local.settings.json is not overridden', async () => {
    const stack = await startLocalStack({ appDir, port: 0, storage: 'memory', logLevel: 'error', azurite: {}, offlineModelPort: 0, devIssuerPort: 0 });
    try {
      expect(process.env['MODEL_BASE_URL']).toBe('http://127.0.0.1:9/v1');
      expect(process.env['STORAGE_CONTAINER']).toBe('settings-app-data');
      expect(process.env['AUTH_AUTHORITY']).toBe(stack.devIssuer.url);
      expect(process.env['STORAGE_CONNECTION_STRING']).toBe(stack.azurite.connectionString);
    } finally {
      await stack.stop();
      rmSync(join(appDir, '.devhost'), { recursive: true, force: true });
    }
  });

  it('for a throwaway stack (npm run agent), points the app at its own services whatever local.settings.json says', async () => {
    const stack = await startLocalStack({
      appDir,
      port: 0,
      storage: 'memory',
      logLevel: 'error',
      azurite: {},
      offlineModelPort: 0,
      devIssuerPort: 0,
      serviceSettingsFrom: 'environment',
    });
    try {
      expect(process.env['MODEL_BASE_URL']).toBe(stack.offlineModel.url);
      expect(process.env['STORAGE_CONTAINER']).toBe('settings-app-data');
    } finally {
      await stack.stop();
      rmSync(join(appDir, '.devhost'), { recursive: true, force: true });
    }
  });
});
