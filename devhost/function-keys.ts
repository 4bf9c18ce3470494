import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Function keys as the Functions host keeps them: one master key (admin level), host keys
 * (valid for every function), and per-function keys. Generated on first run and kept in a
 * JSON file beside the devhost database (or only in memory for tests). These are local
 * development keys for a loopback-only host; they protect nothing outside this machine.
 */
export interface FunctionKeys {
  masterKey: string;
  hostKeys: Record<string, string>;
  functionKeys: Record<string, Record<string, string>>;
}

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
    keys ??= { masterKey: newKey(), hostKeys: { default: newKey() }, functionKeys: {} };
    let changed = !file || !existsSync(file);
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
    const candidates = [
      ...Object.values(this.keys.hostKeys),
      ...(functionName ? Object.values(this.keys.functionKeys[functionName] ?? {}) : []),
    ];
    return candidates.some((k) => safeEqual(presented, k)) ? 'function' : undefined;
  }

  /** True when the presented key satisfies `required`. Anonymous needs no key. */
  authorize(required: AuthLevel, presented: string | undefined, functionName: string | undefined): boolean {
    if (required === 'anonymous') return true;
    const level = this.levelOf(presented, functionName);
    if (!level) return false;
    return required === 'function' || level === 'admin';
  }

  get file(): string | undefined {
    return this.#file;
  }
}
