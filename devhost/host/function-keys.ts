import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Function keys as the Functions host keeps them: one master key (admin level), host keys
 * (valid for every function), per-function keys, and system keys of extensions
 * (`durabletask_extension` guards the durable HTTP API, as on Azure). Generated on first run
 * and kept in a JSON file beside the devhost database (or only in memory for tests); a key
 * file from an older devhost gets the missing keys added. These are local development keys
 * for a loopback-only host; they protect nothing outside this machine.
 */
export interface FunctionKeys {
  masterKey: string;
  hostKeys: Record<string, string>;
  functionKeys: Record<string, Record<string, string>>;
  systemKeys: Record<string, string>;
}

/** The Durable extension's system key name, as the Functions host names it. */
export const DURABLE_SYSTEM_KEY = 'durabletask_extension';
const SYSTEM_KEY_NAMES = [DURABLE_SYSTEM_KEY];

export type AuthLevel = 'anonymous' | 'function' | 'admin';

function newKey(): string {
  // Same shape as the host's keys: URL-safe base64, 40+ characters.
  return randomBytes(40).toString('base64url');
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class FunctionKeyStore {
  readonly #file: string | undefined;
  readonly keys: FunctionKeys;

  /** `file` undefined keeps keys in memory only. */
  constructor(file: string | undefined, functionNames: readonly string[]) {
    this.#file = file;
    let keys: FunctionKeys | undefined;
    if (file && existsSync(file)) {
      keys = JSON.parse(readFileSync(file, 'utf8')) as FunctionKeys;
    }
    keys ??= { masterKey: newKey(), hostKeys: { default: newKey() }, functionKeys: {}, systemKeys: {} };
    let changed = !file || !existsSync(file);
    if (!keys.systemKeys) {
      keys.systemKeys = {};
      changed = true;
    }
    for (const name of SYSTEM_KEY_NAMES) {
      if (!keys.systemKeys[name]) {
        keys.systemKeys[name] = newKey();
        changed = true;
      }
    }
    for (const name of functionNames) {
      if (!keys.functionKeys[name]) {
        keys.functionKeys[name] = { default: newKey() };
        changed = true;
      }
    }
    this.keys = keys;
    if (changed && file) {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, `${JSON.stringify(keys, null, 2)}\n`, { mode: 0o600 });
    }
  }

  /** The level a presented key grants for `functionName`, or undefined when it matches nothing. */
  levelOf(presented: string | undefined, functionName: string | undefined): AuthLevel | undefined {
    if (!presented) return undefined;
    if (safeEqual(presented, this.keys.masterKey)) return 'admin';
    const candidates = [...Object.values(this.keys.hostKeys), ...(functionName ? Object.values(this.keys.functionKeys[functionName] ?? {}) : [])];
    return candidates.some((k) => safeEqual(presented, k)) ? 'function' : undefined;
  }

  /** True when the presented key satisfies `required`. Anonymous needs no key. */
  authorize(required: AuthLevel, presented: string | undefined, functionName: string | undefined): boolean {
    if (required === 'anonymous') return true;
    const level = this.levelOf(presented, functionName);
    if (!level) return false;
    return required === 'function' || level === 'admin';
  }

  /** The system key `name` (e.g. `durabletask_extension`); one exists for every known name. */
  systemKey(name: string): string {
    const key = this.keys.systemKeys[name];
    if (!key) throw new Error(`No system key named '${name}'`);
    return key;
  }

  /**
   * True when the presented key is the system key `name` or the master key (the Functions
   * host's `System` authorization level). Host and function keys do not qualify.
   */
  authorizeSystem(name: string, presented: string | undefined): boolean {
    if (!presented) return false;
    const system = this.keys.systemKeys[name];
    return safeEqual(presented, this.keys.masterKey) || (system !== undefined && safeEqual(presented, system));
  }

  get file(): string | undefined {
    return this.#file;
  }
}
