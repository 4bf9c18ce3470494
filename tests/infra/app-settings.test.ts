import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../shared/config.js';
import { appSettingsFor, ENVIRONMENTS, infra, skipReason, templateOf, type Json } from './infra-kit.js';

// The Function App's app settings, as the compiled template sets them in each environment, must
// satisfy the app's own config schema (shared/config.ts) as APP_ENVIRONMENT=dev|staging|prod.
// When the schema gains a setting a deployed environment needs, these tests fail until
// infra/modules/function-app.bicep sets it.

/** Settings the schema refuses to do without in a deployed environment (see its superRefine). */
const REQUIRED_WHEN_DEPLOYED = ['STORAGE_BLOB_ACCOUNT_URL', 'AZURE_OPENAI_ENDPOINT', 'KEY_VAULT_URL', 'AUTH_AUDIENCES'];

/** A copy of the compiled template whose function-app module no longer sets `key`. */
function templateWithout(key: string): Json {
  const copy = structuredClone(templateOf());
  const resources = copy.resources as Json[];
  const module = resources.find((r) => r.type === 'Microsoft.Resources/deployments' && r.name === 'function-app');
  const variables = ((module?.properties as Json | undefined)?.template as Json | undefined)?.variables as Record<string, Json> | undefined;
  const holder = Object.values(variables ?? {}).find((v) => typeof v === 'object' && v !== null && key in v);
  if (!holder) throw new Error(`function-app module sets no ${key}`);
  delete holder[key];
  return copy;
}

describe.skipIf(!infra)(`app settings vs shared/config.ts${skipReason ? ` (${skipReason})` : ''}`, () => {
  for (const env of ENVIRONMENTS) {
    it(`${env}: the settings parse as APP_ENVIRONMENT=${env}, identity-based throughout`, () => {
      const settings = appSettingsFor(env);
      expect(settings.APP_ENVIRONMENT).toBe(env);
      const config = parseConfig(settings);
      expect(config.environment).toBe(env);
      expect(config.blob.kind).toBe('identity');
      expect(config.model.kind).toBe('azure');
      expect(config.secrets.kind).toBe('key-vault');
      expect(config.tenantCatalog.kind).toBe('blob');
      expect(config.batch.schedules.kind).toBe('blob');
      expect(config.replies.transport.kind).toBe('service-bus');
      expect(config.bot.connectorToken.kind).toBe('identity');
      expect(config.managedIdentityClientId).toBe(settings.AZURE_CLIENT_ID);
      expect(config.auth.authority.startsWith('https://')).toBe(true);
    });

    it(`${env}: every setting the schema requires when deployed is set by the template`, () => {
      const settings = appSettingsFor(env);
      const required = Object.keys(settings).filter((key) => {
        const without = { ...settings };
        delete without[key];
        try {
          parseConfig(without);
          return false;
        } catch (error) {
          expect((error as Error).name).toBe('ConfigError');
          return true;
        }
      });
      expect(required).toEqual(expect.arrayContaining(REQUIRED_WHEN_DEPLOYED));
    });
  }

  it('a required setting removed from the template makes the parse fail, naming it', () => {
    for (const key of REQUIRED_WHEN_DEPLOYED) {
      const settings = appSettingsFor('prod', {}, templateWithout(key));
      expect(settings[key]).toBeUndefined();
      expect(() => parseConfig(settings)).toThrow(ConfigError);
      try {
        parseConfig(settings);
      } catch (error) {
        expect((error as ConfigError).problems.join('\n')).toContain(key);
      }
    }
  });

  it('single tenancy (managed application) sets SINGLE_TENANT_ID and the tenant-specific signing keys', () => {
    const settings = appSettingsFor('prod', { tenancyMode: 'single', singleTenantId: 'contoso', entraTenantId: '11111111-1111-4111-8111-111111111111' });
    const config = parseConfig(settings);
    expect(config.tenancy).toEqual({ mode: 'single', tenantId: 'contoso' });
    expect(config.auth.jwksUrl).toBe('https://login.microsoftonline.com/11111111-1111-4111-8111-111111111111/discovery/v2.0/keys');
  });

  it('host connections are identity-based and match host.json', () => {
    const hostJson = JSON.parse(readFileSync('host.json', 'utf8')) as { extensions: { durableTask: { hubName: string; storageProvider: { type: string; connectionStringName: string } } } };
    const durable = hostJson.extensions.durableTask;
    expect(durable.storageProvider.type).toBe('azureManaged');
    for (const env of ENVIRONMENTS) {
      const s = appSettingsFor(env);
      expect(s.AzureWebJobsStorage__credential).toBe('managedidentity');
      expect(s.AzureWebJobsStorage__clientId).toBe(s.AZURE_CLIENT_ID);
      expect(s.AzureWebJobsStorage__blobServiceUri).toMatch(/^https:\/\//);
      expect(s.ServiceBusConnection__fullyQualifiedNamespace).toMatch(/^[a-z0-9.-]+$/);
      expect(s.ServiceBusConnection__credential).toBe('managedidentity');
      expect(s.APPLICATIONINSIGHTS_AUTHENTICATION_STRING).toBe(`ClientId=${s.AZURE_CLIENT_ID};Authorization=AAD`);
      // host.json names the hub and the scheduler connection through settings: both are set.
      expect(s[durable.hubName.replace(/%/g, '')]).toBeTruthy();
      expect(s[durable.storageProvider.connectionStringName]).toMatch(/^Endpoint=https:\/\/[^;]+;Authentication=ManagedIdentity;ClientID=[0-9a-f-]{36}$/);
      // Flex Consumption refuses these: the runtime lives in functionAppConfig.
      for (const refused of ['FUNCTIONS_WORKER_RUNTIME', 'FUNCTIONS_EXTENSION_VERSION', 'WEBSITE_RUN_FROM_PACKAGE', 'WEBSITE_NODE_DEFAULT_VERSION', 'AzureWebJobsStorage']) {
        expect(s[refused]).toBeUndefined();
      }
    }
  });

  it('the Azure Storage backend switches the provider by setting, over the identity-based host storage', () => {
    const s = appSettingsFor('dev', { durableBackend: 'azure-storage' });
    expect(s.AzureFunctionsJobHost__extensions__durableTask__storageProvider__type).toBe('AzureStorage');
    expect(s.AzureFunctionsJobHost__extensions__durableTask__storageProvider__connectionName).toBe('AzureWebJobsStorage');
    expect(s.DURABLE_TASK_SCHEDULER_CONNECTION_STRING).toBeUndefined();
    expect(() => parseConfig(s)).not.toThrow();
  });

  it('no setting carries a key, SAS or password', () => {
    for (const env of ENVIRONMENTS) {
      for (const [key, value] of Object.entries(appSettingsFor(env))) {
        expect(`${key}=${value}`).not.toMatch(/AccountKey=|SharedAccessKey|SharedAccessSignature|[?&]sig=|Password=|ClientSecret/i);
      }
    }
  });
});
