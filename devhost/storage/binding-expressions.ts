import { randomUUID } from 'node:crypto';
import type { RegisteredFunction, RpcTypedData } from '../host/core-types.js';
import type { InvocationBindingContext } from '../host/extension-types.js';
import type { SettingLookup } from './storage-account.js';

/**
 * Binding expressions, as the Functions host resolves them in blob paths and queue names:
 * `%setting%` from app settings, then `{name}` from the invocation's binding data (trigger
 * metadata such as a blob trigger's `{name}` or a queue message's `{Id}`, properties of a JSON
 * trigger payload, an HTTP trigger's route parameters, `{Query.x}` and `{Headers.x}`), and the
 * built-ins `{rand-guid}` / `{sys.randguid}` and `{DateTime}` / `{sys.utcnow}`. Names ignore case.
 * Pure apart from the built-ins' randomness and clock.
 */

export class BindingExpressionError extends Error {
  override readonly name = 'BindingExpressionError';
}

/** Decodes RPC typed data to a plain value (JSON parsed, bytes left as bytes). */
export function fromTypedData(data: RpcTypedData | null | undefined): unknown {
  if (!data) return undefined;
  if (typeof data.string === 'string') return data.string;
  if (typeof data.json === 'string') {
    try {
      return JSON.parse(data.json) as unknown;
    } catch {
      return data.json;
    }
  }
  if (typeof data.int === 'number') return data.int;
  if (typeof data.double === 'number') return data.double;
  return data.bytes ?? data.stream ?? undefined;
}

function asObject(value: unknown): Record<string, unknown> | undefined {
  if (typeof value === 'string') {
    const trimmed = value.trim();
    if (!trimmed.startsWith('{')) return undefined;
    try {
      value = JSON.parse(trimmed) as unknown;
    } catch {
      return undefined;
    }
  }
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Uint8Array) ? (value as Record<string, unknown>) : undefined;
}

/** The names a binding expression of `fn` may use for this invocation (later sources win). */
export function bindingDataFor(fn: RegisteredFunction, invocation: InvocationBindingContext): Record<string, unknown> {
  const data: Record<string, unknown> = {};
  const trigger = invocation.inputs[fn.triggerBindingName];
  if (trigger?.http) {
    const http = trigger.http;
    const body = asObject(fromTypedData(http.body));
    if (body) Object.assign(data, body);
    Object.assign(data, http.params ?? {});
    data['Query'] = http.query ?? {};
    data['Headers'] = http.headers ?? {};
  } else {
    const payload = asObject(fromTypedData(trigger));
    if (payload) Object.assign(data, payload);
  }
  for (const [key, value] of Object.entries(invocation.triggerMetadata)) data[key] = fromTypedData(value);
  return data;
}

function lookupPath(data: Record<string, unknown>, path: string): unknown {
  let node: unknown = data;
  for (const segment of path.split('.')) {
    const object = asObject(node);
    if (!object) return undefined;
    const key = Object.keys(object).find((k) => k.toLowerCase() === segment.toLowerCase());
    if (key === undefined) return undefined;
    node = object[key];
  }
  return node;
}

/** `2024-05-01T10-20-30Z`: the host's `{DateTime}` (no colons, so it can sit in a blob name). */
function dateTimeToken(now: Date): string {
  return now
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/:/g, '-');
}

/** Replaces `%name%` with app settings. Throws naming a setting that is not set. */
export function resolveSettings(template: string, setting: SettingLookup): string {
  return template.replace(/%([^%\s]+)%/g, (_whole, name: string) => {
    const value = setting(name);
    if (value === undefined) throw new BindingExpressionError(`the app setting '${name}' in "${template}" is not set`);
    return value;
  });
}

/** Resolves a path template against binding data. Throws for a name with no value, as the host does. */
export function resolveTemplate(template: string, data: Record<string, unknown>, setting: SettingLookup, now: () => Date = () => new Date()): string {
  return resolveSettings(template, setting).replace(/\{([^{}]+)\}/g, (_whole, expression: string) => {
    const name = expression.trim();
    const lower = name.toLowerCase();
    if (lower === 'rand-guid' || lower === 'sys.randguid') return randomUUID();
    if (lower === 'datetime' || lower === 'sys.utcnow') return dateTimeToken(now());
    const value = lookupPath(data, name);
    if (value === undefined || value === null || typeof value === 'object') throw new BindingExpressionError(`No value for named parameter '${name}'.`);
    return String(value);
  });
}

/** A blob trigger path (`container/prefix{name}.txt`), split and compiled for matching blob names. */
export interface BlobPathPattern {
  container: string;
  /** The literal start of the blob name pattern: a listing prefix. */
  prefix: string;
  /** Parameter names in the blob name pattern, in order. */
  names: string[];
  match(blobName: string): Record<string, string> | undefined;
}

/**
 * Compiles a blob trigger `path` (settings already resolved). The container part is literal; each
 * `{name}` in the rest matches any run of characters, `/` included. A path without `/` watches the
 * whole container.
 */
export function compileBlobPath(path: string): BlobPathPattern {
  const trimmed = path.trim().replace(/^\/+/, '');
  const slash = trimmed.indexOf('/');
  const container = slash < 0 ? trimmed : trimmed.slice(0, slash);
  const blobPattern = slash < 0 ? '' : trimmed.slice(slash + 1);
  if (container.includes('{')) throw new BindingExpressionError(`the container in blob trigger path "${path}" must be a name, not an expression`);
  const names: string[] = [];
  let source = '';
  let last = 0;
  for (const m of blobPattern.matchAll(/\{([^{}]+)\}/g)) {
    source += escapeRegExp(blobPattern.slice(last, m.index));
    source += '(.*)';
    names.push((m[1] ?? '').trim());
    last = m.index + m[0].length;
  }
  source += escapeRegExp(blobPattern.slice(last));
  const regex = blobPattern === '' ? /^.+$/s : new RegExp(`^${source}$`, 's');
  const firstBrace = blobPattern.indexOf('{');
  return {
    container,
    prefix: firstBrace < 0 ? blobPattern : blobPattern.slice(0, firstBrace),
    names,
    match(blobName: string): Record<string, string> | undefined {
      const m = regex.exec(blobName);
      if (!m) return undefined;
      const bound: Record<string, string> = {};
      names.forEach((name, i) => (bound[name] = m[i + 1] ?? ''));
      return bound;
    },
  };
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** `container/blob/name` split at the first `/`. Throws when either part is empty. */
export function splitBlobPath(path: string): { container: string; blobName: string } {
  const trimmed = path.replace(/^\/+/, '');
  const slash = trimmed.indexOf('/');
  const container = slash < 0 ? '' : trimmed.slice(0, slash);
  const blobName = slash < 0 ? '' : trimmed.slice(slash + 1);
  if (container === '' || blobName === '') throw new BindingExpressionError(`the blob path "${path}" must be <container>/<blob name>`);
  return { container, blobName };
}
