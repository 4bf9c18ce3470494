import { STATUS_CODES, type ServerResponse } from 'node:http';

/**
 * The devhost's one way to answer with JSON, for every server in it (the host's admin API, the
 * durable API, the Service Bus admin routes, the local services). Bodies carry an exact
 * `content-length`; `headers` are added last, so they may replace `content-type`.
 */
export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = Buffer.from(JSON.stringify(value));
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(body.length), ...headers });
  res.end(body);
}

/**
 * An RFC 9457 problem (`application/problem+json`): `type: about:blank`, `title` from the
 * status unless given, then `code`, `detail` and any extension members.
 */
export function sendProblem(
  res: ServerResponse,
  status: number,
  problem: { code: string; detail: string; title?: string; [extension: string]: unknown },
  headers: Record<string, string> = {},
): void {
  const { title, ...rest } = problem;
  sendJson(
    res,
    status,
    { type: 'about:blank', title: title ?? STATUS_CODES[status] ?? 'Error', status, ...rest },
    { 'content-type': 'application/problem+json; charset=utf-8', ...headers },
  );
}
