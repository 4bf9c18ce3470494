import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppLoadError } from './app-load-error.js';
import type { HostJson } from './extension-types.js';

/**
 * The app's settings and host.json, with one precedence, as `func start` has it:
 *
 * 1. the process environment (whatever the shell, a test or a wrapper such as `npm start` set),
 * 2. then `local.settings.json` `Values` (never overriding 1),
 * 3. then defaults (host.json as written, then the devhost's own defaults).
 *
 * host.json is read only after 1 and 2 are merged, so an `AzureFunctionsJobHost__*` setting
 * from either place overrides it, and `%name%` references in it resolve against the same view.
 * Everything that reads settings at start-up (the loader, `tools/local-stack.ts`) goes through
 * here.
 */

export type Settings = Readonly<Record<string, string | undefined>>;

function readJsonFile<T>(file: string, what: string): T {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch (error) {
    throw new AppLoadError([`${what} (${file}) is not valid JSON: ${(error as Error).message}`]);
  }
}

/** `local.settings.json` `Values` as strings (null and undefined values left out); `{}` without the file. */
export function readLocalSettings(appDir: string): Record<string, string> {
  const file = join(appDir, 'local.settings.json');
  if (!existsSync(file)) return {};
  const settings = readJsonFile<{ Values?: Record<string, unknown> }>(file, 'local.settings.json');
  const values: Record<string, string> = {};
  for (const [key, value] of Object.entries(settings.Values ?? {})) {
    if (value !== undefined && value !== null) values[key] = String(value);
  }
  return values;
}

/** The merged view: `env` first, then `local.settings.json` for names `env` does not set. */
export function resolveAppSettings(appDir: string, env: Settings = process.env): Record<string, string> {
  const merged: Record<string, string> = readLocalSettings(appDir);
  for (const [key, value] of Object.entries(env)) if (value !== undefined) merged[key] = value;
  return merged;
}

/**
 * Copies `local.settings.json` `Values` into `env` (default `process.env`) without overriding
 * names already set, as `func start` does. Returns the names it set.
 */
export function applyLocalSettings(appDir: string, env: Record<string, string | undefined> = process.env): string[] {
  const applied: string[] = [];
  for (const [key, value] of Object.entries(readLocalSettings(appDir))) {
    if (env[key] === undefined) {
      env[key] = value;
      applied.push(key);
    }
  }
  return applied;
}

function settingValue(text: string): unknown {
  if (text === 'true' || text === 'false') return text === 'true';
  if (/^-?\d+(\.\d+)?$/.test(text)) return Number(text);
  return text;
}

/** A setting by name: exact first, then case-insensitively (.NET configuration ignores case). */
function lookup(settings: Settings, name: string): string | undefined {
  const exact = settings[name];
  if (exact !== undefined) return exact;
  const lower = name.toLowerCase();
  for (const [key, value] of Object.entries(settings)) if (value !== undefined && key.toLowerCase() === lower) return value;
  return undefined;
}

const REFERENCE = /%([^%\s]+)%/g;

/**
 * Replaces `%name%` in every string of `node` with the setting `name` (the Functions host's
 * name resolver). A string naming a setting that is not set is removed, so the default applies,
 * and `warn` is told which.
 */
function resolveReferences(node: Record<string, unknown>, settings: Settings, path: string, warn: (message: string) => void): void {
  for (const [key, value] of Object.entries(node)) {
    const where = path === '' ? key : `${path}.${key}`;
    if (typeof value === 'string' && value.includes('%')) {
      const missing: string[] = [];
      const resolved = value.replace(REFERENCE, (whole, name: string) => {
        const setting = lookup(settings, name);
        if (setting === undefined) missing.push(name);
        return setting ?? whole;
      });
      if (missing.length > 0) {
        delete node[key];
        warn(`host.json ${where} is "${value}", but no setting named ${missing.join(', ')} is set (environment or local.settings.json); the default applies.`);
      } else {
        node[key] = resolved;
      }
    } else if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      resolveReferences(value as Record<string, unknown>, settings, where, warn);
    }
  }
}

/**
 * host.json as the Functions host sees it, given the merged settings (`resolveAppSettings`):
 * a setting named `AzureFunctionsJobHost__extensions__durableTask__maxConcurrentActivityFunctions`
 * replaces that path (case-insensitive match on existing keys), then every `%name%` is
 * resolved. `settings` defaults to `process.env`, which holds the merged view once
 * `applyLocalSettings` has run.
 */
export function readHostJson(appDir: string, settings: Settings = process.env, warn: (message: string) => void = () => undefined): HostJson {
  const file = join(appDir, 'host.json');
  const hostJson = existsSync(file) ? readJsonFile<HostJson>(file, 'host.json') : { version: '2.0' };
  const prefix = 'azurefunctionsjobhost__';
  for (const [name, value] of Object.entries(settings)) {
    if (value === undefined || !name.toLowerCase().startsWith(prefix)) continue;
    const path = name.slice(prefix.length).split('__').filter(Boolean);
    let node = hostJson as Record<string, unknown>;
    path.forEach((segment, index) => {
      const key = Object.keys(node).find((k) => k.toLowerCase() === segment.toLowerCase()) ?? segment;
      if (index === path.length - 1) {
        node[key] = settingValue(value);
      } else {
        const next = node[key];
        node[key] = next && typeof next === 'object' ? next : {};
        node = node[key] as Record<string, unknown>;
      }
    });
  }
  resolveReferences(hostJson as Record<string, unknown>, settings, '', warn);
  return hostJson;
}
