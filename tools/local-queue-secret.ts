import { LocalFileSecretProvider } from '../shared/auth/local-file-secret-provider.js';
import type { AppConfig } from '../shared/config.js';
import { loadTenantCatalogFile } from '../shared/tenancy/tenant-directory.js';

/**
 * A tenant's local queue signing secret (docs/queue.md): its `queueSecretRef` in the local
 * catalog file, generated on first use into the local secrets file. Throws a plain message when
 * the catalog or the secrets are not local, or the tenant has none. Development only.
 */
export function localQueueSecret(config: AppConfig, tenantId: string): string {
  if (config.tenantCatalog.kind !== 'file') throw new Error('The tenant catalog is in Blob here; read the tenant record there.');
  if (config.secrets.kind !== 'local-file') throw new Error('Secrets are in Key Vault here; read them there.');
  const tenant = loadTenantCatalogFile(config.tenantCatalog.path).find(tenantId);
  if (!tenant) throw new Error(`No tenant "${tenantId}" in ${config.tenantCatalog.path}.`);
  if (!tenant.queueSecretRef) throw new Error(`Tenant "${tenantId}" has no queueSecretRef.`);
  return new LocalFileSecretProvider(config.secrets.path).getOrCreate(tenant.queueSecretRef);
}
