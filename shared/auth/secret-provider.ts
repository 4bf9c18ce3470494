/**
 * Where secrets (webhook signing keys) come from. Key Vault in Azure, a git-ignored local file
 * in development, a map in tests. Secrets never sit in the repository, the tenant catalog or
 * app settings: the catalog holds only their names (`secretRef`).
 */
export interface SecretProvider {
  /** The secret's current value, or undefined when no secret has this name. */
  getSecret(name: string): Promise<string | undefined>;
}

/** Fixed secrets, for tests. */
export class MemorySecretProvider implements SecretProvider {
  readonly #secrets: Map<string, string>;

  constructor(secrets: Record<string, string> = {}) {
    this.#secrets = new Map(Object.entries(secrets));
  }

  async getSecret(name: string): Promise<string | undefined> {
    return this.#secrets.get(name);
  }

  set(name: string, value: string): void {
    this.#secrets.set(name, value);
  }
}

/**
 * Caches another provider's answers for `ttlMs`, so a webhook burst costs one Key Vault read
 * per secret per TTL (Key Vault throttles); a rotated secret is picked up within one TTL.
 * Failed reads are not cached.
 */
export class CachingSecretProvider implements SecretProvider {
  readonly #inner: SecretProvider;
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #cache = new Map<string, { value: Promise<string | undefined>; expiresAtMs: number }>();

  constructor(inner: SecretProvider, ttlMs: number, now: () => number) {
    this.#inner = inner;
    this.#ttlMs = ttlMs;
    this.#now = now;
  }

  getSecret(name: string): Promise<string | undefined> {
    const now = this.#now();
    const cached = this.#cache.get(name);
    if (cached && cached.expiresAtMs > now) return cached.value;
    const value = this.#inner.getSecret(name);
    this.#cache.set(name, { value, expiresAtMs: now + this.#ttlMs });
    value.catch(() => this.#cache.delete(name));
    return value;
  }
}
