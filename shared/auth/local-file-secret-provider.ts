import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { SecretProvider } from './secret-provider.js';

/**
 * Development secrets in a git-ignored JSON file (default `.devhost/secrets.json`, shape
 * `{"secrets": {"<name>": "<value>"}}`). A secret that is not there yet is generated (32 random
 * bytes, hex) and saved on first use, so a fresh checkout works without anyone committing or
 * sharing a secret. Refused outside the local environment by config.
 */
export class LocalFileSecretProvider implements SecretProvider {
  readonly #path: string;

  constructor(path: string) {
    this.#path = path;
  }

  async getSecret(name: string): Promise<string | undefined> {
    return this.getOrCreate(name);
  }

  /** The secret named `name`, created and persisted when missing. Synchronous, so it cannot interleave within a process. */
  getOrCreate(name: string): string {
    const secrets = this.#read();
    const existing = secrets[name];
    if (existing) return existing;
    const created = randomBytes(32).toString('hex');
    secrets[name] = created;
    mkdirSync(dirname(this.#path), { recursive: true });
    // Write then rename: a reader never sees half a file.
    const temp = `${this.#path}.${process.pid}.tmp`;
    writeFileSync(temp, `${JSON.stringify({ secrets }, null, 2)}\n`, { mode: 0o600 });
    renameSync(temp, this.#path);
    return created;
  }

  #read(): Record<string, string> {
    let text: string;
    try {
      text = readFileSync(this.#path, 'utf8');
    } catch (error) {
      if ((error as { code?: unknown }).code === 'ENOENT') return {};
      throw error;
    }
    const parsed = JSON.parse(text) as { secrets?: unknown };
    const secrets = parsed.secrets;
    if (typeof secrets !== 'object' || secrets === null) return {};
    return Object.fromEntries(Object.entries(secrets).filter((e): e is [string, string] => typeof e[1] === 'string'));
  }
}
