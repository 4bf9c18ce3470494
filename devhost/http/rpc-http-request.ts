import type { IncomingMessage } from 'node:http';
import type { RpcHttpData, RpcNullableString, RpcTypedData } from '../host/core-types.js';

/**
 * The HTTP trigger's request as the Functions host hands it to the Node worker: the RPC HTTP
 * data (`ToRpcHttp` in azure-functions-host `src/WebJobs.Script.Grpc/MessageExtensions/
 * GrpcMessageConversionExtensions.cs`) and the trigger metadata (binding data from
 * azure-webjobs-sdk-extensions `HttpTriggerAttributeBindingProvider.GetRequestBindingData`).
 *
 * The Node worker declares `UseNullableValueDictionaryForHttp`, `RawHttpBodyBytes` and
 * `RpcHttpBodyOnly` (nodejs-worker `getWorkerCapabilities.ts`), so the host sends headers, query
 * and route parameters only as `nullable*` maps (empty values kept) and the body only as bytes.
 * The worker decodes the message with protobufjs, whose map fields are always present, so the
 * library also sees the plain maps, empty.
 */

/** One value per name, the way ASP.NET Core's `StringValues.ToString()` joins repeats: with `,`. */
function joinValues(values: readonly string[]): string {
  return values.join(',');
}

/**
 * Request headers, lower-cased, repeats joined with `,` (Kestrel keeps every line of a repeated
 * header; `ToRpcHttp` sends `pair.Value.ToString()`). Node's own `req.headers` would join with
 * `, ` and drop repeats of some headers, so the distinct values are used.
 */
export function requestHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [key, values] of Object.entries(req.headersDistinct)) {
    if (values) headers[key.toLowerCase()] = joinValues(values);
  }
  return headers;
}

interface QueryEntry {
  name: string;
  values: string[];
}

/**
 * The query as ASP.NET Core's `request.Query` holds it: names compared case-insensitively (the
 * first spelling kept), values of a repeated name in order. Decoding (`+`, percent escapes, empty
 * segments skipped, a name without `=` has an empty value) is `URLSearchParams`', which agrees
 * with ASP.NET's `QueryStringEnumerable` for well-formed input.
 */
function parseQuery(url: URL): QueryEntry[] {
  const byKey = new Map<string, QueryEntry>();
  for (const [name, value] of new URLSearchParams(url.search)) {
    const key = name.toLowerCase();
    const entry = byKey.get(key);
    if (entry) entry.values.push(value);
    else byKey.set(key, { name, values: [value] });
  }
  return [...byKey.values()];
}

function nullable(map: Record<string, string>): Record<string, RpcNullableString> {
  const out: Record<string, RpcNullableString> = {};
  for (const [key, value] of Object.entries(map)) out[key] = { value };
  return out;
}

/** The URL as `ToRpcHttp` builds it: `{scheme}://{Host header}{path}{query}`. */
function requestUrl(req: IncomingMessage, url: URL): string {
  const host = req.headers.host;
  return host ? `${url.protocol}//${host}${url.pathname}${url.search}` : url.href;
}

/**
 * True when the host would pass the body to the worker: only with `Content-Length > 0`
 * (`if (request.Body != null && request.ContentLength > 0)` in `ToRpcHttp`). A chunked request
 * has no `ContentLength` in ASP.NET Core, so its body never reaches an out-of-process function
 * (azure-functions-host#4926, #7930; nodejs-library#171); neither does a GET's or a HEAD's
 * empty body, which `@azure/functions` before the fix of nodejs-library#458 would refuse.
 */
export function hostSendsBody(req: IncomingMessage): boolean {
  const header = req.headers['content-length'];
  return header !== undefined && Number(header) > 0;
}

/** The RPC HTTP data for a request that is not proxied (HTTP streaming off). */
export function toRpcHttpRequest(req: IncomingMessage, url: URL, method: string, params: Record<string, string>, body: Buffer | undefined): RpcHttpData {
  const query: Record<string, string> = {};
  for (const entry of parseQuery(url)) query[entry.name] = joinValues(entry.values);
  const http: RpcHttpData = {
    method,
    url: requestUrl(req, url),
    headers: {},
    nullableHeaders: nullable(requestHeaders(req)),
    query: {},
    nullableQuery: nullable(query),
    params: {},
    nullableParams: nullable(params),
    cookies: [],
    identities: [],
  };
  if (body !== undefined) http.body = { bytes: body };
  return http;
}

/**
 * The RPC HTTP data for a request the host forwards to the worker's HTTP proxy: empty, or only
 * the route parameters when the worker declares `RequiresRouteParameters` (the two
 * `isHttpProxying` branches of `ToRpcHttp`).
 */
export function toProxiedRpcHttpRequest(params: Record<string, string>, requiresRouteParameters: boolean): RpcHttpData {
  return requiresRouteParameters ? { nullableParams: nullable(params) } : {};
}

/**
 * The HTTP trigger's metadata (`GetRequestBindingData`): each query name with its last value
 * (`code` left out), the route parameters over them, then `Query` (last values) and `Headers`
 * as JSON unless a query name or route parameter already took those names (the dictionary is
 * case-insensitive). Strings go as `string`, dictionaries as `json` (`ToRpc`). `@azure/functions`
 * 4.9 and later build a streamed request's headers and `params` from it (every string entry
 * but `Query` and `Headers`, so query names show up in `params` too, as on the real host).
 * Not reproduced: the top-level properties of a JSON body with `Content-Length`, which the host
 * also adds.
 */
export function httpTriggerMetadata(req: IncomingMessage, url: URL, params: Record<string, string>): Record<string, RpcTypedData> {
  const metadata = new Map<string, { name: string; data: RpcTypedData }>();
  const set = (name: string, data: RpcTypedData): void => {
    const key = name.toLowerCase();
    const existing = metadata.get(key);
    metadata.set(key, { name: existing?.name ?? name, data });
  };
  const lastValues: Record<string, string> = {};
  for (const entry of parseQuery(url)) lastValues[entry.name] = entry.values[entry.values.length - 1] ?? '';
  for (const [name, value] of Object.entries(lastValues)) {
    if (name.toLowerCase() !== 'code') set(name, { string: value });
  }
  for (const [name, value] of Object.entries(params)) set(name, { string: value });
  if (!metadata.has('query')) set('Query', { json: JSON.stringify(lastValues) });
  if (!metadata.has('headers')) set('Headers', { json: JSON.stringify(requestHeaders(req)) });
  const out: Record<string, RpcTypedData> = {};
  for (const { name, data } of metadata.values()) out[name] = data;
  return out;
}
