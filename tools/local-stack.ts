import { BlobServiceClient } from '@azure/storage-blob';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { startAzurite, type AzuriteHandle, type AzuriteOptions } from '../devhost/local-services/azurite.js';
import { DEV_ISSUER_DEFAULT_PORT, defaultDevIssuerKeyFile, startDevTokenIssuer, type DevTokenIssuer } from '../devhost/local-services/dev-token-issuer.js';
import { resolveAppSettings } from '../devhost/host/app-settings.js';
import { startDevhost, type Devhost } from '../devhost/host/host.js';
import type { LogLevel } from '../devhost/host/logger.js';
import { startOfflineModel, type OfflineModel } from '../devhost/local-services/offline-model/server.js';
import type { StorageOption } from '../devhost/host/storage.js';

/**
 * This project's local stack: Azurite (blob), the offline model, and the devhost running the
 * app, wired together through the app's own settings (`STORAGE_CONNECTION_STRING`,
 * `MODEL_BASE_URL`) exactly as Azure services are in production. It fills in only the settings
 * that neither the environment nor `local.settings.json` sets (the one precedence of
 * `devhost/host/app-settings.ts`), so the same runner can point at a real Azure OpenAI
 * deployment from either place.
 */
export interface LocalStackOptions {
  appDir: string;
  port: number;
  storage: StorageOption;
  logLevel: LogLevel;
  /** Azurite blob port (0: any), on-disk location (undefined: in memory), and whether it outlives a killed parent. */
  azurite: AzuriteOptions;
  offlineModelPort: number;
  /** The development token issuer's port (default 7073; 0 in tests). */
  devIssuerPort?: number;
  /**
   * Whose settings can keep the stack from pointing the app at a service it started:
   * `environment-and-local-settings` (default, `npm start`: fixed ports, which
   * local.settings.json may name) or `environment` (`npm run agent`: throwaway services on free
   * ports, which a local.settings.json written for `npm start` would miss; only a variable set
   * in the environment, e.g. MODEL_BASE_URL for a real deployment, is kept).
   */
  serviceSettingsFrom?: 'environment-and-local-settings' | 'environment';
  /** Where notes about settings go (a user setting that differs from a started service); default: none. */
  log?: (line: string) => void;
  /** Sample documents copied into each tenant's document store on start. */
  seed?: { documentsDir: string; tenants: string[] };
}

export interface LocalStack {
  devhost: Devhost;
  azurite: AzuriteHandle;
  offlineModel: OfflineModel;
  devIssuer: DevTokenIssuer;
  stop(): Promise<void>;
}

function listFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    return statSync(full).isDirectory() ? listFiles(full) : [full];
  });
}

async function seedDocuments(connectionString: string, container: string, seed: NonNullable<LocalStackOptions['seed']>): Promise<void> {
  const client = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(container);
  await client.createIfNotExists();
  const files = listFiles(seed.documentsDir);
  await Promise.all(
    seed.tenants.flatMap((tenant) =>
      files.map((file) => {
        const body = readFileSync(file);
        const name = `tenants/${tenant}/documents/${relative(seed.documentsDir, file).split('\\').join('/')}`;
        return client.getBlockBlobClient(name).upload(body, body.length, { blobHTTPHeaders: { blobContentType: 'text/markdown; charset=utf-8' } });
      }),
    ),
  );
}

/** What the local stack started, for {@link localStackSettings}. */
export interface StartedServices {
  devIssuerUrl: string;
  azuriteConnectionString: string;
  offlineModelUrl: string;
  /** The devhost's fixed port (0: any) and storage, for the reply-queue admin settings. */
  port: number;
  storage: StorageOption;
}

/**
 * The settings the local stack sets: for each service it started, the setting that points the
 * app at it, unless `settings` (the merged environment and `local.settings.json`) already names
 * one. `kept` names the settings left as the user set them although they differ from what was
 * started (names only: a connection string may hold a secret), so `npm start` can say so.
 */
export function localStackSettings(settings: Readonly<Record<string, string | undefined>>, started: StartedServices): { fill: Record<string, string>; kept: string[] } {
  const wanted: Record<string, string> = {
    AUTH_AUTHORITY: started.devIssuerUrl,
    STORAGE_CONNECTION_STRING: started.azuriteConnectionString,
    // host.json names the task hub by %DURABLE_TASK_HUB_NAME% (a setting on Azure).
    DURABLE_TASK_HUB_NAME: 'agentpipelinelocal',
  };
  if (settings['MODEL_PROVIDER'] !== 'azure-openai') wanted['MODEL_BASE_URL'] = started.offlineModelUrl;
  // Reply queues of the Service Bus door: the devhost's own queues, through its admin API and
  // the key file it writes beside its database (a fixed port is needed: the app reads settings
  // before the devhost listens).
  if (!settings['SERVICEBUS_FULLY_QUALIFIED_NAMESPACE'] && started.port !== 0 && started.storage !== 'memory') {
    wanted['LOCAL_SERVICEBUS_ADMIN_URL'] = `http://127.0.0.1:${started.port}`;
    wanted['LOCAL_SERVICEBUS_ADMIN_KEY_FILE'] = join(dirname(started.storage), 'keys.json');
  }
  const fill: Record<string, string> = {};
  const kept: string[] = [];
  for (const [name, value] of Object.entries(wanted)) {
    const own = settings[name];
    if (own === undefined) fill[name] = value;
    else if (own !== value) kept.push(name);
  }
  return { fill, kept };
}

export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const azurite = await startAzurite(options.azurite);
  let offlineModel: OfflineModel | undefined;
  let devIssuer: DevTokenIssuer | undefined;
  try {
    offlineModel = await startOfflineModel({ port: options.offlineModelPort });
    devIssuer = await startDevTokenIssuer({ port: options.devIssuerPort ?? DEV_ISSUER_DEFAULT_PORT, keyFile: defaultDevIssuerKeyFile(options.appDir) });
    const settings = resolveAppSettings(options.appDir);
    const { fill, kept } = localStackSettings(options.serviceSettingsFrom === 'environment' ? process.env : settings, {
      devIssuerUrl: devIssuer.url,
      azuriteConnectionString: azurite.connectionString,
      offlineModelUrl: offlineModel.url,
      port: options.port,
      storage: options.storage,
    });
    Object.assign(process.env, fill);
    Object.assign(settings, fill);
    if (kept.length > 0) options.log?.(`  from your environment or local.settings.json, not from the local stack: ${kept.join(', ')}`);
    if (options.seed) {
      await seedDocuments(settings['STORAGE_CONNECTION_STRING'] ?? azurite.connectionString, settings['STORAGE_CONTAINER'] ?? 'agent-data', options.seed);
    }
    const devhost = await startDevhost({ appDir: options.appDir, port: options.port, storage: options.storage, logLevel: options.logLevel });
    const model = offlineModel;
    const issuer = devIssuer;
    return {
      devhost,
      azurite,
      offlineModel: model,
      devIssuer: issuer,
      async stop() {
        await devhost.stop();
        await issuer.stop();
        await model.stop();
        await azurite.stop();
      },
    };
  } catch (error) {
    await devIssuer?.stop();
    await offlineModel?.stop();
    await azurite.stop();
    throw error;
  }
}
