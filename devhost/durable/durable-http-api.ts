import type { IncomingMessage, ServerResponse } from 'node:http';
import { DURABLE_SYSTEM_KEY, type FunctionKeyStore } from '../host/function-keys.js';
import { presentedKey } from '../http/http-dispatch.js';
import { sendJson } from '../host/http-response.js';
import { readBodyText, refuseTooLarge } from '../host/request-body.js';
import { RPC_SEGMENT, WEBHOOK_PATH, managementUrls, type HubSettings } from './client-binding.js';
import { RUNTIME_STATUSES, TERMINAL_STATUSES, type InstanceQuery, type InstanceRecord, type RuntimeStatus } from './durable-store.js';
import { STORAGE_RETRY_AFTER_SECONDS } from '../host/storage.js';
import { isJsonText } from './json-text.js';
import { DurableApiError, type InstanceOperationResult, type OrchestrationEngine } from './orchestration-engine.js';
import { statusPayload, type StatusOptions } from './status-payload.js';

/**
 * The durable HTTP API (the extension's `HttpApiHandler`), served under
 * `/runtime/webhooks/durabletask/` for both the public management links and the SDK's rpc
 * calls, with the extension's routes and status codes: 202 + `Location` while an instance
 * runs, 200 once it is done, 404 for unknown instances, 410 for operations on finished ones.
 * Also `GET /admin/durable/instances[/{id}]` for inspection.
 *
 * Every webhook request needs the Durable extension's system key or the master key, as on
 * Azure: `?code=` or `x-functions-key` on the public links, in the path on the SDK's rpc base
 * (`…/durabletask/rpc/<key>/…`, see client-binding.ts); otherwise 401 with an empty body, as the
 * Functions host answers. The admin path's master key is checked by the core.
 */

const ADMIN_PATH = '/admin/durable/instances';

type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;

function send(res: ServerResponse, status: number, body?: string, headers: Record<string, string> = {}): void {
  const bytes = body === undefined ? undefined : Buffer.from(body);
  res.writeHead(status, {
    ...(bytes ? { 'content-type': 'application/json; charset=utf-8', 'content-length': String(bytes.length) } : { 'content-length': '0' }),
    ...headers,
  });
  res.end(bytes);
}

/** The extension's error body (ASP.NET `HttpError`). */
function sendError(res: ServerResponse, status: number, message: string, exceptionMessage?: string, exceptionType?: string): void {
  const body: Record<string, string> = { Message: message };
  if (exceptionMessage !== undefined) body['ExceptionMessage'] = exceptionMessage;
  if (exceptionType !== undefined) body['ExceptionType'] = exceptionType;
  sendJson(res, status, body);
}

function boolParam(url: URL, name: string): boolean | undefined {
  const value = url.searchParams.get(name);
  if (value === null) return undefined;
  if (/^true$/i.test(value.trim())) return true;
  if (/^false$/i.test(value.trim())) return false;
  return undefined;
}

function dateParam(url: URL, name: string): number | undefined {
  const value = url.searchParams.get(name);
  if (value === null || value.trim() === '') return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

function secondsParam(url: URL, name: string): number | undefined {
  const value = url.searchParams.get(name);
  if (value === null || value.trim() === '') return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}

function statusesParam(url: URL): RuntimeStatus[] | undefined {
  const values = url.searchParams.getAll('runtimeStatus').flatMap((v) => v.split(','));
  const statuses = values.map((v) => RUNTIME_STATUSES.find((s) => s.toLowerCase() === v.trim().toLowerCase())).filter((s): s is RuntimeStatus => s !== undefined);
  return statuses.length > 0 ? statuses : undefined;
}

function mediaType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

function origin(req: IncomingMessage, fallback: string): string {
  const host = req.headers.host;
  return host ? `http://${host}` : fallback;
}

export interface DurableHttpApiOptions {
  engine: OrchestrationEngine;
  hub: HubSettings;
  /** The devhost's base URL, for links when a request has no Host header. */
  baseUrl: () => string;
  /** Checks presented keys; the links carry its `durabletask_extension` system key. */
  keys: FunctionKeyStore;
  /** Request body limit (the host's FUNCTIONS_REQUEST_BODY_SIZE_LIMIT). */
  maxRequestBodyBytes: number;
}

/** Builds the request handler; it resolves `false` for paths it does not serve. */
export function createDurableHttpApi(options: DurableHttpApiOptions): Handler {
  const { engine, hub, keys } = options;
  const readBody = (req: IncomingMessage): Promise<string> => readBodyText(req, options.maxRequestBodyBytes);

  function checkStatusResponse(req: IncomingMessage, res: ServerResponse, instanceId: string): void {
    const links = managementUrls(origin(req, options.baseUrl()), instanceId, hub, keys.systemKey(DURABLE_SYSTEM_KEY));
    const body = {
      id: instanceId,
      statusQueryGetUri: links.statusQueryGetUri,
      sendEventPostUri: links.sendEventPostUri,
      terminatePostUri: links.terminatePostUri,
      purgeHistoryDeleteUri: links.purgeHistoryDeleteUri,
      restartPostUri: links.restartPostUri,
      suspendPostUri: links.suspendPostUri,
      resumePostUri: links.resumePostUri,
    };
    sendJson(res, 202, body, { location: links.statusQueryGetUri, 'retry-after': '10' });
  }

  function statusResponse(req: IncomingMessage, res: ServerResponse, url: URL, record: InstanceRecord, returnServerErrorOnFailure: boolean | undefined): void {
    const opts: StatusOptions = {
      showHistory: boolParam(url, 'showHistory') ?? false,
      showHistoryOutput: boolParam(url, 'showHistoryOutput') ?? false,
      showInput: boolParam(url, 'showInput') ?? true,
    };
    const history = opts.showHistory ? engine.history(record.instanceId) : undefined;
    const payload = statusPayload(record, opts, history);
    const serverError = returnServerErrorOnFailure ?? boolParam(url, 'returnInternalServerErrorOnFailure') ?? false;
    switch (record.status) {
      case 'Running':
      case 'Pending':
      case 'ContinuedAsNew':
      case 'Suspended':
        return sendJson(res, 202, payload, { location: `${origin(req, options.baseUrl())}${url.pathname}${url.search}`, 'retry-after': '5' });
      case 'Failed':
        return sendJson(res, serverError ? 500 : 200, payload);
      default:
        return sendJson(res, 200, payload);
    }
  }

  /** After a start: wait (`timeout`/`pollingInterval` seconds) or answer 202 with the links. */
  async function answerStarted(req: IncomingMessage, res: ServerResponse, url: URL, instanceId: string): Promise<void> {
    const timeout = secondsParam(url, 'timeout');
    const polling = secondsParam(url, 'pollingInterval');
    if (timeout === undefined || polling === undefined) return checkStatusResponse(req, res, instanceId);
    const record = await engine.waitForTerminal(instanceId, timeout * 1000);
    if (record?.status === 'Completed') return send(res, 200, record.output ?? 'null');
    if (record && TERMINAL_STATUSES.has(record.status)) return statusResponse(req, res, url, record, undefined);
    return checkStatusResponse(req, res, instanceId);
  }

  async function startOrchestration(req: IncomingMessage, res: ServerResponse, url: URL, functionName: string, instanceId: string | undefined): Promise<void> {
    const body = await readBody(req);
    let input: string | undefined;
    if (body.trim() !== '') {
      if (!isJsonText(body)) return sendError(res, 400, 'Invalid JSON content');
      input = body.trim();
    }
    const id = engine.startOrchestration(functionName, instanceId, input);
    engine.flush();
    await answerStarted(req, res, url, id);
  }

  function operationResult(res: ServerResponse, result: InstanceOperationResult): void {
    engine.flush();
    if (result === 'notFound') return send(res, 404);
    if (result === 'gone') return send(res, 410);
    return send(res, 202);
  }

  async function instances(req: IncomingMessage, res: ServerResponse, url: URL, segments: string[]): Promise<void> {
    const method = req.method ?? 'GET';
    const instanceId = segments[1] ?? '';
    const operation = segments[2];
    if (instanceId === '') {
      if (method === 'GET') return listInstances(res, url, req);
      if (method === 'DELETE') {
        const createdFrom = dateParam(url, 'createdTimeFrom');
        if (createdFrom === undefined) return sendJson(res, 400, "Please provide value for 'createdTimeFrom' parameter.");
        const query: InstanceQuery = { createdFrom, createdTo: dateParam(url, 'createdTimeTo') ?? engine.clock.now() };
        const statuses = statusesParam(url);
        if (statuses) query.statuses = statuses;
        const deleted = engine.purgeWhere(query);
        return deleted === 0 ? send(res, 404) : sendJson(res, 200, { instancesDeleted: deleted });
      }
      return send(res, 404);
    }
    if (operation === undefined || operation === '') {
      if (method === 'GET') {
        const record = engine.getInstance(instanceId);
        return record ? statusResponse(req, res, url, record, undefined) : send(res, 404);
      }
      if (method === 'DELETE') {
        const deleted = engine.purge(instanceId);
        return deleted === 0 ? send(res, 404) : sendJson(res, 200, { instancesDeleted: deleted });
      }
      return send(res, 404);
    }
    if (method !== 'POST') return send(res, 404);
    const reason = url.searchParams.get('reason') ?? undefined;
    switch (operation.toLowerCase()) {
      case 'raiseevent': {
        const eventName = segments[3];
        if (eventName === undefined || eventName === '' || segments.length > 4) return send(res, 404);
        const record = engine.getInstance(instanceId);
        if (!record) return send(res, 404);
        if (TERMINAL_STATUSES.has(record.status)) return send(res, 410);
        const body = await readBody(req);
        let data: string | undefined;
        if (body.trim() !== '') {
          if (mediaType(req) !== 'application/json') return sendError(res, 400, 'Only application/json request content is supported');
          if (!isJsonText(body)) return sendError(res, 400, 'Invalid JSON content');
          data = body.trim();
        }
        return operationResult(res, engine.raiseEvent(instanceId, eventName, data));
      }
      case 'terminate':
        return operationResult(res, engine.terminate(instanceId, reason));
      case 'suspend':
        return operationResult(res, engine.suspend(instanceId, reason));
      case 'resume':
        return operationResult(res, engine.resume(instanceId, reason));
      case 'rewind': {
        const record = engine.getInstance(instanceId);
        if (!record) return send(res, 404);
        return sendError(res, 501, 'Rewind is not supported by the devhost.');
      }
      case 'restart': {
        const record = engine.getInstance(instanceId);
        if (!record) return sendError(res, 400, 'InstanceId does not match a valid orchestration instance.');
        const fresh = boolParam(url, 'restartWithNewInstanceId') ?? true;
        const id = engine.startOrchestration(record.name, fresh ? undefined : record.instanceId, record.input ?? undefined);
        engine.flush();
        return answerStarted(req, res, url, id);
      }
      default:
        return send(res, 404);
    }
  }

  function listInstances(res: ServerResponse, url: URL, req: IncomingMessage): void {
    const query: InstanceQuery = {};
    const from = dateParam(url, 'createdTimeFrom');
    const to = dateParam(url, 'createdTimeTo');
    const statuses = statusesParam(url);
    const prefix = url.searchParams.get('instanceIdPrefix');
    if (from !== undefined) query.createdFrom = from;
    if (to !== undefined) query.createdTo = to;
    if (statuses) query.statuses = statuses;
    if (prefix !== null) query.instanceIdPrefix = prefix;
    const top = secondsParam(url, 'top');
    const token = req.headers['x-ms-continuation-token'];
    const offset = typeof token === 'string' && /^\d+$/.test(token) ? Number(token) : 0;
    if (top !== undefined && top > 0) {
      query.limit = top + 1;
      query.offset = offset;
    }
    const records = engine.query(query);
    const more = top !== undefined && top > 0 && records.length > top;
    const page = more ? records.slice(0, top) : records;
    const opts: StatusOptions = { showInput: boolParam(url, 'showInput') ?? true, showHistory: false, showHistoryOutput: false };
    sendJson(
      res,
      200,
      page.map((r) => statusPayload(r, opts, undefined)),
      more ? { 'x-ms-continuation-token': String(offset + page.length) } : {},
    );
  }

  async function entities(req: IncomingMessage, res: ServerResponse, url: URL, segments: string[]): Promise<void> {
    const method = req.method ?? 'GET';
    const name = segments[1] ?? '';
    const rawKey = segments[2];
    const key = rawKey === '$' ? '' : rawKey;
    if (method === 'GET') {
      if (key === undefined || (rawKey === '' && segments.length === 3)) {
        engine.flush();
        const fetchState = boolParam(url, 'fetchState') ?? false;
        const list = engine.listEntities(name === '' ? undefined : name).map((e) => {
          const item: Record<string, unknown> = { entityId: { name: e.name, key: e.key }, lastOperationTime: new Date(e.updatedAt).toISOString() };
          if (fetchState) item['state'] = e.state === null ? null : (JSON.parse(e.state) as unknown);
          return item;
        });
        return sendJson(res, 200, list);
      }
      engine.flush();
      const entity = engine.entities.read(name, key);
      if (!entity?.exists) return send(res, 404);
      return send(res, 200, entity.state ?? 'null');
    }
    if (method === 'POST' || method === 'DELETE') {
      if (name === '' || key === undefined) return sendError(res, 400, 'An entity name and key are required.');
      const missing = engine.functions.missing('entity', name);
      if (missing) return sendError(res, 400, missing);
      const op = method === 'DELETE' ? 'delete' : (url.searchParams.get('op') ?? '');
      const body = await readBody(req);
      let input: string | undefined;
      if (body !== '') {
        if (mediaType(req) === 'application/json') {
          if (!isJsonText(body)) return sendError(res, 400, 'Could not parse JSON content');
          input = body.trim();
        } else {
          input = JSON.stringify(body);
        }
      }
      engine.entities.signal(name, key, op, input);
      engine.flush();
      return send(res, 202);
    }
    return send(res, 404);
  }

  async function admin(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    if ((req.method ?? 'GET') !== 'GET') return send(res, 405, undefined, { allow: 'GET' });
    const rest = url.pathname.slice(ADMIN_PATH.length).replace(/^\/+|\/+$/g, '');
    if (rest === '') return listInstances(res, url, req);
    const record = engine.getInstance(decodeURIComponent(rest));
    if (!record) return send(res, 404);
    const opts: StatusOptions = { showInput: true, showHistory: true, showHistoryOutput: boolParam(url, 'showHistoryOutput') ?? true };
    return sendJson(res, 200, statusPayload(record, opts, engine.history(record.instanceId)));
  }

  async function route(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const rest = url.pathname.slice(WEBHOOK_PATH.length).replace(/^\/+/, '');
    let segments = rest.split('/').map((s) => decodeURIComponent(s));
    let presented = presentedKey(req, url);
    if ((segments[0] ?? '').toLowerCase() === RPC_SEGMENT) {
      presented = segments[1];
      segments = segments.slice(2);
    }
    if (!keys.authorizeSystem(DURABLE_SYSTEM_KEY, presented)) return send(res, 401);
    const controller = (segments[0] ?? '').toLowerCase();
    if (controller === 'orchestrators') {
      const functionName = segments[1] ?? '';
      if (req.method !== 'POST' || functionName === '' || segments.length > 3) return send(res, 404);
      const instanceId = segments[2] === undefined || segments[2] === '' ? undefined : segments[2];
      return startOrchestration(req, res, url, functionName, instanceId);
    }
    if (controller === 'instances') return instances(req, res, url, segments);
    if (controller === 'entities') return entities(req, res, url, segments);
    return send(res, 404);
  }

  return async (req, res, url) => {
    const path = url.pathname;
    const isWebhook = path === WEBHOOK_PATH || path.startsWith(`${WEBHOOK_PATH}/`);
    const isAdmin = path === ADMIN_PATH || path.startsWith(`${ADMIN_PATH}/`);
    if (!isWebhook && !isAdmin) return false;
    try {
      engine.assertAvailable();
      if (isAdmin) await admin(req, res, url);
      else await route(req, res, url);
    } catch (error) {
      if (res.headersSent) {
        res.destroy();
      } else if ((error as Error)?.name === 'StorageUnavailableError') {
        // Nothing was acknowledged; the caller may retry after Retry-After.
        sendJson(
          res,
          503,
          { Message: 'The durable store cannot be written; retry later.', ExceptionMessage: (error as Error).message },
          {
            'retry-after': String(STORAGE_RETRY_AFTER_SECONDS),
          },
        );
      } else if (error instanceof DurableApiError) {
        sendError(res, error.status, error.message, error.exceptionMessage, error.exceptionType);
      } else if ((error as Error | undefined)?.name === 'RequestTooLargeError') {
        refuseTooLarge(req, res, { type: 'application/json; charset=utf-8', text: JSON.stringify({ Message: 'The request body is too large.' }) });
      } else if (error instanceof URIError) {
        sendError(res, 400, 'The request path is not valid.');
      } else {
        sendError(res, 500, 'Something went wrong while processing your request', (error as Error)?.message ?? String(error));
      }
    }
    return true;
  };
}
