import { BlobServiceClient } from '@azure/storage-blob';
import { QueueServiceClient } from '@azure/storage-queue';

/**
 * The storage account a Blob or Queue binding talks to, from its `connection` setting the way the
 * WebJobs storage extensions resolve it: the binding's `connection` (default `AzureWebJobsStorage`)
 * names an app setting, looked up as `AzureWebJobs<connection>` first and then as `<connection>`.
 * Its value is a connection string: `UseDevelopmentStorage=true` means Azurite's default endpoints
 * (127.0.0.1:10000 blob, :10001 queue), and `BlobEndpoint=` / `QueueEndpoint=` are honoured (the
 * SDK clients parse it). Identity-based connections (`<name>__serviceUri`) are not supported.
 */

export const DEFAULT_STORAGE_CONNECTION = 'AzureWebJobsStorage';

export type SettingLookup = (name: string) => string | undefined;

/** A setting by name: exact first, then ignoring case (.NET configuration ignores case). */
export function processSetting(name: string): string | undefined {
  const exact = process.env[name];
  if (exact !== undefined) return exact;
  const lower = name.toLowerCase();
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined && key.toLowerCase() === lower) return value;
  return undefined;
}

export class StorageConnectionError extends Error {
  override readonly name = 'StorageConnectionError';
}

/**
 * The connection string for a binding's `connection` option. Throws {@link StorageConnectionError}
 * when no setting holds one (the host's message), or when only an identity-based one is set.
 */
export function resolveConnectionString(connection: unknown, setting: SettingLookup): string {
  const name = typeof connection === 'string' && connection.trim() !== '' ? connection.trim() : DEFAULT_STORAGE_CONNECTION;
  for (const candidate of [`AzureWebJobs${name}`, name]) {
    const value = setting(candidate);
    if (value !== undefined && value.trim() !== '') return value.trim();
  }
  for (const suffix of ['__serviceUri', '__blobServiceUri', '__queueServiceUri', '__accountName']) {
    if (setting(`${name}${suffix}`) !== undefined) {
      throw new StorageConnectionError(
        `the connection '${name}' is identity-based (${name}${suffix}); the devhost needs a connection string (UseDevelopmentStorage=true for Azurite)`,
      );
    }
  }
  throw new StorageConnectionError(`Storage account connection string '${name}' does not exist. Make sure that it is a defined App Setting.`);
}

/**
 * Refuses a connection string for Azurite's development account that names explicit endpoints
 * but not `service`'s: the SDK would fall back to a cloud host name that no Azurite serves.
 */
export function checkServiceEndpoint(connectionString: string, service: 'blob' | 'queue'): void {
  const parts = new Map(
    connectionString
      .split(';')
      .map((p) => p.trim())
      .filter(Boolean)
      .map((p) => {
        const eq = p.indexOf('=');
        return [p.slice(0, eq).toLowerCase(), p.slice(eq + 1)] as const;
      }),
  );
  if (parts.get('usedevelopmentstorage')?.toLowerCase() === 'true') return;
  const key = service === 'blob' ? 'blobendpoint' : 'queueendpoint';
  if (parts.get('accountname') === 'devstoreaccount1' && !parts.has(key)) {
    throw new StorageConnectionError(
      `the connection string is for Azurite's development account but names no ${service === 'blob' ? 'BlobEndpoint' : 'QueueEndpoint'}; start Azurite's ${service} service and add its endpoint (or use UseDevelopmentStorage=true)`,
    );
  }
}

/** SDK clients per connection string, created once; they hold no sockets until used. */
export class StorageClients {
  readonly #blob = new Map<string, BlobServiceClient>();
  readonly #queue = new Map<string, QueueServiceClient>();

  constructor(private readonly setting: SettingLookup) {}

  connectionString(connection: unknown): string {
    return resolveConnectionString(connection, this.setting);
  }

  blob(connection: unknown): BlobServiceClient {
    const cs = this.connectionString(connection);
    checkServiceEndpoint(cs, 'blob');
    let client = this.#blob.get(cs);
    if (!client) {
      client = BlobServiceClient.fromConnectionString(cs);
      this.#blob.set(cs, client);
    }
    return client;
  }

  queue(connection: unknown): QueueServiceClient {
    const cs = this.connectionString(connection);
    checkServiceEndpoint(cs, 'queue');
    let client = this.#queue.get(cs);
    if (!client) {
      client = QueueServiceClient.fromConnectionString(cs);
      this.#queue.set(cs, client);
    }
    return client;
  }
}

/** True for an SDK error that means "it is not there" (container, blob or queue). */
export function isNotFound(error: unknown): boolean {
  return (error as { statusCode?: unknown } | null)?.statusCode === 404;
}

/** Blob container naming rules (3-63 characters, lowercase letters, digits, single hyphens). */
export function containerNameProblem(name: string): string | undefined {
  if (!/^[a-z0-9](?:[a-z0-9]|-(?!-)){1,61}[a-z0-9]$/.test(name)) {
    return `"${name}" is not a valid container name (3-63 lowercase letters, digits and single hyphens)`;
  }
  return undefined;
}

/** Queue naming rules (the same shape as container names). */
export function queueNameProblem(name: string): string | undefined {
  if (!/^[a-z0-9](?:[a-z0-9]|-(?!-)){1,61}[a-z0-9]$/.test(name)) {
    return `"${name}" is not a valid queue name (3-63 lowercase letters, digits and single hyphens)`;
  }
  return undefined;
}
