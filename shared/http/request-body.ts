import type { HttpRequest } from '@azure/functions';
import type { z } from 'zod';
import { ValidationError } from '../errors.js';
import { MAX_JSON_DEPTH, jsonTextDepth } from '../json-depth.js';
import { ContentTooLargeError, UnsupportedMediaTypeError } from './http-errors.js';

/**
 * Body handling shared by the HTTP doors: media type, size limit, JSON and schema checks, each
 * failing with its own problem (415, 413, 400) so a caller knows exactly what to fix.
 */

/** Throws 415 unless the content type is `application/json` (parameters such as charset allowed). */
export function requireJsonContentType(request: HttpRequest): void {
  const contentType = request.headers.get('content-type');
  const mediaType = contentType?.split(';')[0]?.trim().toLowerCase();
  if (mediaType !== 'application/json') throw new UnsupportedMediaTypeError('application/json', contentType);
}

/**
 * The raw body, at most `maxBytes`. Rejects early on a declared `content-length` over the limit
 * and otherwise stops reading as soon as the limit is crossed, so an oversized body costs at
 * most `maxBytes` of memory here. Raw bytes matter: webhook signatures cover them exactly.
 */
export async function readBodyWithLimit(request: HttpRequest, maxBytes: number): Promise<Buffer> {
  const declared = Number(request.headers.get('content-length') ?? Number.NaN);
  if (Number.isFinite(declared) && declared > maxBytes) throw new ContentTooLargeError(maxBytes);
  const stream = request.body;
  if (!stream) return Buffer.alloc(0);
  const reader = stream.getReader();
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const chunk = Buffer.from(value as Uint8Array);
    total += chunk.length;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new ContentTooLargeError(maxBytes);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}

/**
 * Parses JSON text; a syntax error is the caller's (400), never a 500. Nesting deeper than
 * {@link MAX_JSON_DEPTH} is refused first (400 `json_too_deep`): later steps walk the value
 * recursively and would overflow the stack.
 */
export function parseJson(raw: Buffer): unknown {
  const text = raw.toString('utf8');
  if (jsonTextDepth(text) > MAX_JSON_DEPTH) {
    throw new ValidationError(
      `The request body nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels.`,
      [`(body): nested deeper than ${MAX_JSON_DEPTH} levels`],
      'json_too_deep',
    );
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ValidationError('The request body is not valid JSON.', ['(body): not valid JSON']);
  }
}

/** Validates `value` against `schema`, listing every problem as `path: message`. */
export function validate<T extends z.ZodType>(schema: T, value: unknown, what = 'request body'): z.output<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.map(String).join('.') || '(body)'}: ${i.message}`);
    throw new ValidationError(`The ${what} is invalid.`, problems);
  }
  return parsed.data;
}

/** Content type, size and schema in one step for JSON bodies. */
export async function readJsonBody<T extends z.ZodType>(request: HttpRequest, schema: T, maxBytes: number): Promise<z.output<T>> {
  requireJsonContentType(request);
  return validate(schema, parseJson(await readBodyWithLimit(request, maxBytes)));
}
