import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { FunctionKeys } from '../../devhost/host/function-keys.js';

/**
 * The keys a devhost wrote beside its database (`keys.json` next to `storage`). Read it after
 * the host has started: the host creates the file (or adds missing keys) at start.
 */
export function readDevhostKeys(storage: string): FunctionKeys {
  return JSON.parse(readFileSync(join(dirname(storage), 'keys.json'), 'utf8')) as FunctionKeys;
}

/** `url` with `code=<key>` set, as the Functions host expects a key in the query. */
export function withCode(url: string, key: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set('code', key);
  return parsed.href;
}
