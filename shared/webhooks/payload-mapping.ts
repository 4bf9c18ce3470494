import { z } from 'zod';
import { ValidationError } from '../errors.js';

/**
 * How a webhook source's payload becomes an agent's input. This is configuration in the tenant
 * catalog, not code, so a tenant can connect a new system without a deployment. Three shapes:
 *
 * - `{ pointer: "/ticket" }`: the JSON value at an RFC 6901 pointer (`""` = the whole payload);
 * - `{ template: "Ticket {{/id}}: {{/subject}}\n{{/body?}}" }`: text with `{{pointer}}`
 *   placeholders; strings are inserted as they are, other values as JSON;
 * - `{ fields: { subject: "/ticket/subject", priority: "/ticket/priority?" } }`: an object whose
 *   values are taken from pointers.
 *
 * A pointer ending in `?` is optional (blank / omitted when absent); any other missing pointer
 * rejects the delivery with a 400 listing every missing one, so nothing is dropped silently.
 */

/** An RFC 6901 JSON pointer, optionally followed by `?` (optional value). */
const PointerRef = z
  .string()
  .max(512)
  .regex(/^(\/([^~/?]|~[01])*)*\??$/, 'must be a JSON pointer such as "/ticket/subject" (append "?" if optional)');

export const InputMappingSchema = z.union([
  z.strictObject({ pointer: PointerRef }),
  z.strictObject({ template: z.string().min(1).max(20_000) }),
  z.strictObject({
    fields: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'must be an identifier'), PointerRef).refine((f) => Object.keys(f).length > 0, 'needs at least one field'),
  }),
]);
export type InputMapping = z.infer<typeof InputMappingSchema>;

const MISSING: unique symbol = Symbol('missing');

/** Resolves an RFC 6901 pointer in `document`; {@link MISSING} when a segment does not exist. */
function resolvePointer(document: unknown, pointer: string): unknown {
  if (pointer === '') return document;
  let current: unknown = document;
  for (const raw of pointer.slice(1).split('/')) {
    const token = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (Array.isArray(current)) {
      if (!/^(0|[1-9][0-9]*)$/.test(token) || Number(token) >= current.length) return MISSING;
      current = current[Number(token)];
    } else if (typeof current === 'object' && current !== null && Object.hasOwn(current, token)) {
      current = (current as Record<string, unknown>)[token];
    } else {
      return MISSING;
    }
  }
  return current;
}

function splitRef(ref: string): { pointer: string; optional: boolean } {
  return ref.endsWith('?') ? { pointer: ref.slice(0, -1), optional: true } : { pointer: ref, optional: false };
}

function asText(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

const PLACEHOLDER = /\{\{\s*((?:\/(?:[^~/?}\s]|~[01])*)+\??)\s*\}\}/g;

/** Applies `mapping` to a webhook payload. Throws a 400 ValidationError listing missing values. */
export function mapPayloadToInput(mapping: InputMapping, payload: unknown): unknown {
  const missing: string[] = [];
  const lookup = (ref: string): unknown => {
    const { pointer, optional } = splitRef(ref);
    const value = resolvePointer(payload, pointer);
    if (value === MISSING && !optional) missing.push(pointer || '(payload)');
    return value;
  };
  let input: unknown;
  if ('pointer' in mapping) {
    const value = lookup(mapping.pointer);
    input = value === MISSING ? null : value;
  } else if ('template' in mapping) {
    input = mapping.template.replace(PLACEHOLDER, (_match, ref: string) => {
      const value = lookup(ref);
      return value === MISSING ? '' : asText(value);
    });
  } else {
    const fields: Record<string, unknown> = {};
    for (const [name, ref] of Object.entries(mapping.fields)) {
      const value = lookup(ref);
      if (value !== MISSING) fields[name] = value;
    }
    input = fields;
  }
  if (missing.length > 0) {
    throw new ValidationError(
      'The payload lacks values this webhook source maps into the agent input.',
      missing.map((p) => `${p}: required by the source's input mapping`),
    );
  }
  return input;
}
