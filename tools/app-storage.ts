import { join } from 'node:path';
import { DefaultAzureCredential } from '@azure/identity';
import { ConfigError, parseConfig, type AppConfig } from '../shared/config.js';
import { AzureBlobStore } from '../shared/storage/azure-blob-store.js';
import { resolveAppSettings } from '../devhost/host/app-settings.js';

/**
 * For the project's command-line tools that read what the app stored (`npm run audit:verify`,
 * `npm run usage`): the app's own settings (the process environment, then `local.settings.json`,
 * as the devhost resolves them) and a blob store on the account they name (Azurite locally; in
 * Azure, `STORAGE_BLOB_ACCOUNT_URL` with the signed-in developer through DefaultAzureCredential).
 */
const repoRoot = join(import.meta.dirname, '..', '..');

/** The app's settings, or `fail` with every bad key listed. */
export function appConfigOrFail(fail: (message: string) => never): AppConfig {
  try {
    return parseConfig(resolveAppSettings(repoRoot));
  } catch (error) {
    if (error instanceof ConfigError) fail(`Invalid settings:\n${error.problems.map((p) => `  - ${p}`).join('\n')}`);
    throw error;
  }
}

/** A read client for `container` on the account the settings name. */
export function appBlobStore(config: AppConfig, container: string): AzureBlobStore {
  return config.blob.kind === 'identity'
    ? new AzureBlobStore({ kind: 'identity', accountUrl: config.blob.accountUrl, container, credential: new DefaultAzureCredential() })
    : new AzureBlobStore({ kind: 'connection-string', connectionString: config.blob.connectionString, container });
}
