import type { TokenCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import type { SecretProvider } from './secret-provider.js';

/**
 * Secrets from Azure Key Vault (RBAC: the app's managed identity needs "Key Vault Secrets
 * User"), through `@azure/keyvault-secrets`. Wrap it in a CachingSecretProvider: this adapter
 * reads Key Vault on every call.
 */
export class KeyVaultSecretProvider implements SecretProvider {
  readonly #client: SecretClient;

  constructor(vaultUrl: string, credential: TokenCredential) {
    this.#client = new SecretClient(vaultUrl, credential);
  }

  async getSecret(name: string): Promise<string | undefined> {
    try {
      const secret = await this.#client.getSecret(name);
      // A disabled secret has no value: treat it as absent, so deliveries signed with it fail.
      return secret.properties.enabled === false ? undefined : secret.value;
    } catch (error) {
      const e = error as { name?: unknown; statusCode?: unknown };
      if (e?.name === 'RestError' && e.statusCode === 404) return undefined;
      throw error;
    }
  }
}
