import type { RpcTypedData } from '../host/core-types.js';

/**
 * Payloads move through the backend as JSON text, the way the extension stores them. These
 * helpers convert between the SDK's values, JSON text and the RPC typed data functions receive.
 */

/**
 * JSON text for an input the SDK put in an action. The SDK JSON-encodes string inputs of
 * activities and `continueAsNew` itself (`Utils.processInput`), so for those a string already
 * is JSON text (`stringIsJson`); other inputs (sub-orchestrations, entities) are raw values.
 * `undefined` stays `undefined` (no input).
 */
export function actionInputToJson(value: unknown, stringIsJson: boolean): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string' && stringIsJson && isJsonText(value)) return value;
  return JSON.stringify(value);
}

/** An action input's JSON text, encoded on first use and then kept. */
export type LazyJson = () => string | undefined;

export function lazyActionInput(value: unknown, stringIsJson: boolean): LazyJson {
  let encoded = false;
  let json: string | undefined;
  return () => {
    if (!encoded) {
      json = actionInputToJson(value, stringIsJson);
      encoded = true;
    }
    return json;
  };
}

/** True when `text` parses as JSON. */
export function isJsonText(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * Parses JSON text for a status payload the way the extension's `ParseToJToken` does: `null`
 * for none, `""` for blank, and the raw string when it is not JSON (terminate reasons, failure
 * messages).
 */
export function parseJsonLenient(text: string | null | undefined): unknown {
  if (text === null || text === undefined) return null;
  const trimmed = text.trim();
  if (trimmed === '') return '';
  try {
    return JSON.parse(trimmed) as unknown;
  } catch {
    return text;
  }
}

/** Typed data delivering a JSON value to a function's trigger; `undefined` when there is none. */
export function jsonToTypedData(json: string | undefined): RpcTypedData | undefined {
  return json === undefined ? undefined : { string: json };
}

/**
 * The JSON text of a function's return value (activity results, entity batch output). A string
 * return becomes a JSON string, as the extension serialises the worker's string result.
 */
export function typedDataToJson(data: RpcTypedData | null | undefined): string {
  if (data === null || data === undefined) return 'null';
  if (data.json !== undefined && data.json !== null) return data.json;
  if (data.string !== undefined && data.string !== null) return JSON.stringify(data.string);
  if (data.int !== undefined && data.int !== null) return String(data.int);
  if (data.double !== undefined && data.double !== null) return Number.isFinite(data.double) ? String(data.double) : 'null';
  const bytes = data.bytes ?? data.stream;
  if (bytes) return JSON.stringify(Buffer.from(bytes).toString('base64'));
  return 'null';
}

/** The value of a function's return data, parsed. */
export function typedDataToValue(data: RpcTypedData | null | undefined): unknown {
  return JSON.parse(typedDataToJson(data)) as unknown;
}
