import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { sendJson } from '../../host/http-response.js';
import { readBody, refuseTooLarge } from '../../host/request-body.js';
import { isOwnHost, ownAuthorities } from '../../host/request-origin.js';
import {
  deterministicReply,
  estimateTokens,
  freshToolCallId,
  stableToolCallId,
  toolMessageProblem,
  type OfflineMessage,
  type OfflineToolCall,
  type OfflineToolSpec,
} from './deterministic-model.js';

/**
 * The offline model: an OpenAI-compatible chat-completions endpoint on 127.0.0.1 (node:http
 * only), reached by the app through the real `openai` client. A deterministic stand-in for
 * Azure OpenAI, not a model. See README.md beside this file.
 *
 * Routes:
 * - `POST /v1/chat/completions` (OpenAI; deployment = body `model`)
 * - `POST /openai/deployments/{deployment}/chat/completions?api-version=…` (Azure OpenAI)
 * - control, for tests in another process: `GET /_offline/requests`, `GET /_offline/stats`,
 *   `POST /_offline/script` `{turns}`, `POST /_offline/faults` `{faults}`, `POST /_offline/reset`.
 *   They need the control key (`x-offline-model-key` header or `?code=`), generated at start:
 *   whoever can script the model decides what the agent does next, and the captured requests
 *   hold every prompt. The chat routes take any credential, as before.
 */

const MAX_BODY_BYTES = 10 * 1024 * 1024;

const UsageSchema = z.object({
  promptTokens: z.number().int().min(0),
  completionTokens: z.number().int().min(0),
});

const TurnCommon = {
  /** Only a request to this deployment plays the turn; omitted: any deployment. */
  deployment: z.string().min(1).optional(),
  /** Wait this long before answering (cancelled when the client gives up). */
  latencyMs: z.number().int().min(0).max(600_000).optional(),
  /** Reported usage; omitted: the chars/4 estimate. */
  usage: UsageSchema.optional(),
  /** Reported `model`; omitted: `offline-model`. */
  model: z.string().min(1).optional(),
};

/** A canned response: final text, tool calls, or an HTTP error. */
export const OfflineTurnSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('text'),
    content: z.string(),
    finishReason: z.enum(['stop', 'length', 'content_filter']).optional(),
    ...TurnCommon,
  }),
  z.object({
    type: z.literal('tool_calls'),
    toolCalls: z
      .array(
        z.object({
          id: z.string().min(1).optional(),
          name: z.string().min(1),
          /** An object (serialised) or raw text (to send invalid JSON on purpose). */
          arguments: z.union([z.string(), z.record(z.string(), z.unknown())]),
        }),
      )
      .min(1),
    content: z.string().nullable().optional(),
    ...TurnCommon,
  }),
  z.object({
    type: z.literal('error'),
    status: z.number().int().min(400).max(599),
    message: z.string().optional(),
    /** The `error.code` in the body, e.g. `content_filter`. */
    code: z.string().optional(),
    /** Sends `retry-after-ms` and `Retry-After` (whole seconds, rounded up). */
    retryAfterMs: z.number().int().min(0).optional(),
    ...TurnCommon,
  }),
]);
export type OfflineTurn = z.input<typeof OfflineTurnSchema>;
type ParsedTurn = z.output<typeof OfflineTurnSchema>;

/** Injected trouble. Applies to every matching call until `count` calls have been hit, or until reset. */
export const OfflineFaultSchema = z
  .object({
    /** Omitted: every deployment. */
    deployment: z.string().min(1).optional(),
    /** Answer with this HTTP status instead of a completion (429, 500, …). */
    status: z.number().int().min(400).max(599).optional(),
    /** With `status`: sends `retry-after-ms` and `Retry-After` (whole seconds, rounded up). */
    retryAfterMs: z.number().int().min(0).optional(),
    /** Added before answering; cancelled when the client gives up. */
    latencyMs: z.number().int().min(0).max(600_000).optional(),
    /** Hit the next N matching calls only; omitted: until reset. */
    count: z.number().int().min(1).optional(),
    message: z.string().optional(),
  })
  .refine((f) => f.status !== undefined || f.latencyMs !== undefined, { message: 'a fault needs a status or a latencyMs' });
export type OfflineFault = z.input<typeof OfflineFaultSchema>;
type ParsedFault = z.output<typeof OfflineFaultSchema>;

const ScriptBodySchema = z.object({ turns: z.array(OfflineTurnSchema) });
const FaultsBodySchema = z.object({ faults: z.array(OfflineFaultSchema) });

const ContentSchema = z.union([z.string(), z.null(), z.array(z.looseObject({ type: z.string(), text: z.string().optional() }))]);

const ChatCompletionRequestSchema = z.looseObject({
  model: z.string().min(1).optional(),
  messages: z
    .array(
      z.looseObject({
        role: z.enum(['system', 'developer', 'user', 'assistant', 'tool']),
        content: ContentSchema.optional(),
        tool_calls: z
          .array(
            z.looseObject({
              id: z.string(),
              type: z.literal('function'),
              function: z.object({ name: z.string(), arguments: z.string() }),
            }),
          )
          .optional(),
        tool_call_id: z.string().optional(),
      }),
    )
    .min(1),
  tools: z
    .array(
      z.looseObject({
        type: z.literal('function'),
        function: z.looseObject({
          name: z.string().min(1),
          description: z.string().optional(),
          parameters: z.record(z.string(), z.unknown()).optional(),
        }),
      }),
    )
    .optional(),
  stream: z.boolean().optional(),
});
type ChatCompletionRequest = z.output<typeof ChatCompletionRequestSchema>;

/** One chat-completion request as the offline model received it. */
export interface OfflineRequestRecord {
  /** 1-based, in arrival order. */
  seq: number;
  api: 'openai' | 'azure';
  deployment: string;
  apiVersion?: string;
  /** Which credential kind came with the request (the value itself is never kept). */
  auth: 'bearer' | 'api-key' | 'none';
  /** The JSON body as sent. */
  body: unknown;
  /** Status answered; absent while in flight or when the client gave up first. */
  status?: number;
  /** What produced the answer. */
  source?: 'deterministic' | 'script' | 'fault' | 'invalid';
}

export interface OfflineModelStats {
  inFlight: number;
  /** Most chat requests in flight at once since start or reset. */
  maxInFlight: number;
  requestCount: number;
  scriptRemaining: number;
}

export interface OfflineModel {
  /** Base URL for an OpenAI-compatible client, ending in `/v1`. */
  url: string;
  /** `http://127.0.0.1:<port>`: the `endpoint` for an AzureOpenAI client. */
  origin: string;
  /**
   * Queues canned responses and switches to scripted mode. A request plays the first queued turn
   * keyed to its deployment, else the first turn keyed to none; with nothing left it gets a
   * non-retryable 400 saying the script ran out.
   */
  script(turns: readonly OfflineTurn[]): void;
  /** Replaces the fault list. */
  setFaults(faults: readonly OfflineFault[]): void;
  /** Copies of the captured chat requests. */
  requests(): OfflineRequestRecord[];
  stats(): OfflineModelStats;
  /** Back to deterministic mode: clears script, faults, captured requests and stats. */
  reset(): void;
  /** The key `/_offline/*` asks for (`x-offline-model-key` header or `?code=`). */
  controlKey: string;
  /** Closes the server and every open connection. */
  stop(): Promise<void>;
}

export interface OfflineModelOptions {
  /** 0 (default): an ephemeral port. */
  port?: number;
  /**
   * Tool-call ids of answers that do not name their own: `fresh` (default) — a new random id
   * every answer, as Azure OpenAI gives, so a step that is run twice gets different ids;
   * `stable` — derived from the conversation position (deterministic) or `call_<seq>_<n>`
   * (scripted), for tests that need reproducible ids.
   */
  toolCallIds?: 'fresh' | 'stable';
  /** The control key for `/_offline/*`; default: a new random key per start. */
  controlKey?: string;
}

/** Header that carries the control key (`?code=` works too). */
export const OFFLINE_MODEL_KEY_HEADER = 'x-offline-model-key';

function sameKey(presented: string | undefined, expected: string): boolean {
  if (presented === undefined) return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

class BadRequest extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

function toOfflineMessages(request: ChatCompletionRequest): OfflineMessage[] {
  return request.messages.map((m) => {
    const content = typeof m.content === 'string' ? m.content : Array.isArray(m.content) ? m.content.map((p) => p.text ?? '').join('') : '';
    const toolCalls = m.tool_calls?.map((c) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments }));
    return {
      role: m.role,
      content,
      ...(toolCalls === undefined ? {} : { toolCalls }),
      ...(m.tool_call_id === undefined ? {} : { toolCallId: m.tool_call_id }),
    };
  });
}

function toOfflineTools(request: ChatCompletionRequest): OfflineToolSpec[] {
  return (request.tools ?? []).map((t) => ({
    name: t.function.name,
    description: t.function.description ?? '',
    parameters: t.function.parameters ?? {},
  }));
}

function promptTokens(request: ChatCompletionRequest): number {
  let chars = 0;
  for (const m of toOfflineMessages(request)) {
    chars += m.content.length;
    for (const c of m.toolCalls ?? []) chars += c.name.length + c.arguments.length;
  }
  if (request.tools !== undefined) chars += JSON.stringify(request.tools).length;
  return Math.max(1, estimateTokens(chars));
}

/** A chat completion body exactly as the OpenAI API shapes it. */
function completionBody(
  message: { content: string | null; toolCalls: OfflineToolCall[] },
  options: { model: string; seq: number; prompt: number; finishReason?: 'stop' | 'length' | 'content_filter'; usage?: { promptTokens: number; completionTokens: number } },
): Record<string, unknown> {
  const { content, toolCalls } = message;
  const outputChars = (content ?? '').length + toolCalls.reduce((n, c) => n + c.name.length + c.arguments.length, 0);
  const promptCount = options.usage?.promptTokens ?? options.prompt;
  const completionCount = options.usage?.completionTokens ?? Math.max(1, estimateTokens(outputChars));
  return {
    id: `chatcmpl-offline-${options.seq}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: options.model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content,
          refusal: null,
          annotations: [],
          ...(toolCalls.length > 0 ? { tool_calls: toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } })) } : {}),
        },
        logprobs: null,
        finish_reason: toolCalls.length > 0 ? 'tool_calls' : (options.finishReason ?? 'stop'),
      },
    ],
    usage: { prompt_tokens: promptCount, completion_tokens: completionCount, total_tokens: promptCount + completionCount },
  };
}

function errorCodeFor(status: number): string {
  if (status === 429) return 'rate_limit_exceeded';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

function sendError(res: ServerResponse, status: number, message: string, options: { code?: string; retryAfterMs?: number } = {}): void {
  const headers: Record<string, string> =
    options.retryAfterMs === undefined ? {} : { 'retry-after-ms': String(options.retryAfterMs), 'retry-after': String(Math.ceil(options.retryAfterMs / 1000)) };
  sendJson(res, status, { error: { message, type: status >= 500 ? 'server_error' : 'invalid_request_error', param: null, code: options.code ?? errorCodeFor(status) } }, headers);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  let body: Buffer;
  try {
    body = await readBody(req, MAX_BODY_BYTES);
  } catch (error) {
    if ((error as Error | undefined)?.name === 'RequestTooLargeError') throw new BadRequest(`request body exceeds ${MAX_BODY_BYTES} bytes`, 413);
    throw error;
  }
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    throw new BadRequest('request body is not valid JSON');
  }
}

function issuesOf(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
}

function authOf(req: IncomingMessage): OfflineRequestRecord['auth'] {
  if (typeof req.headers['api-key'] === 'string') return 'api-key';
  return /^bearer\s+\S/i.test(req.headers.authorization ?? '') ? 'bearer' : 'none';
}

const AZURE_PATH = /^\/openai\/deployments\/([^/]+)\/chat\/completions\/?$/;

/** Starts the offline model on 127.0.0.1. */
export async function startOfflineModel(options: OfflineModelOptions = {}): Promise<OfflineModel> {
  const freshIds = (options.toolCallIds ?? 'fresh') === 'fresh';
  let scripted = false;
  let turns: ParsedTurn[] = [];
  let faults: { fault: ParsedFault; remaining: number | undefined }[] = [];
  let records: OfflineRequestRecord[] = [];
  let seq = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  /** Aborted on stop(), so pending latencies end at once. */
  const stopping = new AbortController();

  function script(newTurns: readonly OfflineTurn[]): void {
    const parsed = z.array(OfflineTurnSchema).safeParse(newTurns);
    if (!parsed.success) throw new TypeError(`invalid offline model script: ${issuesOf(parsed.error)}`);
    scripted = true;
    turns.push(...parsed.data);
  }

  function setFaults(newFaults: readonly OfflineFault[]): void {
    const parsed = z.array(OfflineFaultSchema).safeParse(newFaults);
    if (!parsed.success) throw new TypeError(`invalid offline model faults: ${issuesOf(parsed.error)}`);
    faults = parsed.data.map((fault) => ({ fault, remaining: fault.count }));
  }

  function reset(): void {
    scripted = false;
    turns = [];
    faults = [];
    records = [];
    seq = 0;
    maxInFlight = inFlight;
  }

  /** Collects matching faults: summed latency, first status wins. Each matching fault spends one of its count. */
  function takeFaults(deployment: string): { latencyMs: number; error: ParsedFault | undefined } {
    let latencyMs = 0;
    let error: ParsedFault | undefined;
    for (const entry of faults) {
      if (entry.fault.deployment !== undefined && entry.fault.deployment !== deployment) continue;
      latencyMs += entry.fault.latencyMs ?? 0;
      if (entry.fault.status !== undefined) error ??= entry.fault;
      if (entry.remaining !== undefined) entry.remaining -= 1;
    }
    faults = faults.filter((f) => f.remaining === undefined || f.remaining > 0);
    return { latencyMs, error };
  }

  function takeTurn(deployment: string): ParsedTurn | undefined {
    // A turn keyed to this deployment goes first; otherwise the first turn keyed to none.
    let index = turns.findIndex((t) => t.deployment === deployment);
    if (index < 0) index = turns.findIndex((t) => t.deployment === undefined);
    if (index < 0) return undefined;
    const [turn] = turns.splice(index, 1);
    return turn;
  }

  async function handleChat(req: IncomingMessage, res: ServerResponse, api: 'openai' | 'azure', pathDeployment: string | undefined, apiVersion: string | undefined): Promise<void> {
    const aborted = new AbortController();
    const onAbort = (): void => aborted.abort();
    stopping.signal.addEventListener('abort', onAbort);
    res.on('close', () => {
      if (!res.writableFinished) aborted.abort();
    });

    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    try {
      const raw = await readJson(req);
      const parsed = ChatCompletionRequestSchema.safeParse(raw);
      const deployment = pathDeployment ?? (parsed.success ? parsed.data.model : undefined) ?? '';
      seq += 1;
      const record: OfflineRequestRecord = {
        seq,
        api,
        deployment,
        ...(apiVersion === undefined ? {} : { apiVersion }),
        auth: authOf(req),
        body: raw,
      };
      records.push(record);
      const answer = (status: number, source: NonNullable<OfflineRequestRecord['source']>): void => {
        record.status = status;
        record.source = source;
      };

      if (!parsed.success) {
        answer(400, 'invalid');
        return sendError(res, 400, `invalid chat completion request: ${issuesOf(parsed.error)}`);
      }
      if (deployment === '') {
        answer(400, 'invalid');
        return sendError(res, 400, 'model is required');
      }
      if (api === 'azure' && apiVersion === undefined) {
        answer(400, 'invalid');
        return sendError(res, 400, 'the api-version query parameter is required');
      }
      if (parsed.data.stream === true) {
        answer(400, 'invalid');
        return sendError(res, 400, 'the offline model does not stream; send stream: false');
      }
      // As strict as Azure OpenAI: a tool message that answers no preceding call is a 400.
      const messages = toOfflineMessages(parsed.data);
      const toolProblem = toolMessageProblem(messages);
      if (toolProblem !== undefined) {
        answer(400, 'invalid');
        return sendError(res, 400, toolProblem, { code: 'invalid_request_error' });
      }

      const { latencyMs: faultLatencyMs, error: fault } = takeFaults(deployment);
      const turn = fault === undefined && scripted ? takeTurn(deployment) : undefined;
      const latencyMs = faultLatencyMs + (turn?.latencyMs ?? 0);
      if (latencyMs > 0) {
        try {
          await sleep(latencyMs, undefined, { signal: aborted.signal });
        } catch {
          return; // The client gave up (or the server is stopping): nobody to answer.
        }
      }
      if (aborted.signal.aborted) return;

      if (fault !== undefined) {
        answer(fault.status ?? 500, 'fault');
        return sendError(res, fault.status ?? 500, fault.message ?? `offline model fault for ${deployment}`, {
          ...(fault.retryAfterMs === undefined ? {} : { retryAfterMs: fault.retryAfterMs }),
        });
      }

      const prompt = promptTokens(parsed.data);
      if (scripted) {
        if (turn === undefined) {
          // A non-retryable status so a gateway does not mask the test bug with fallbacks.
          answer(400, 'script');
          return sendError(res, 400, `offline model script ran out of turns at request ${seq} (deployment ${deployment})`, {
            code: 'offline_script_exhausted',
          });
        }
        if (turn.type === 'error') {
          answer(turn.status, 'script');
          return sendError(res, turn.status, turn.message ?? `scripted ${turn.status} for ${deployment}`, {
            ...(turn.code === undefined ? {} : { code: turn.code }),
            ...(turn.retryAfterMs === undefined ? {} : { retryAfterMs: turn.retryAfterMs }),
          });
        }
        const message =
          turn.type === 'text'
            ? { content: turn.content, toolCalls: [] }
            : {
                content: turn.content ?? null,
                toolCalls: turn.toolCalls.map((c, i) => ({
                  id: c.id ?? (freshIds ? freshToolCallId(0, '', c.name, i) : `call_${seq}_${i + 1}`),
                  name: c.name,
                  arguments: typeof c.arguments === 'string' ? c.arguments : JSON.stringify(c.arguments),
                })),
              };
        answer(200, 'script');
        return sendJson(
          res,
          200,
          completionBody(message, {
            model: turn.model ?? 'offline-model',
            seq,
            prompt,
            ...(turn.type === 'text' && turn.finishReason !== undefined ? { finishReason: turn.finishReason } : {}),
            ...(turn.usage === undefined ? {} : { usage: turn.usage }),
          }),
        );
      }

      const reply = deterministicReply(messages, toOfflineTools(parsed.data), freshIds ? freshToolCallId : stableToolCallId);
      answer(200, 'deterministic');
      const message = reply.kind === 'text' ? { content: reply.content, toolCalls: [] } : { content: null, toolCalls: reply.toolCalls };
      return sendJson(res, 200, completionBody(message, { model: 'offline-model', seq, prompt }));
    } finally {
      inFlight -= 1;
      stopping.signal.removeEventListener('abort', onAbort);
    }
  }

  const controlKey = options.controlKey ?? randomBytes(32).toString('base64url');

  async function handleControl(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const path = url.pathname;
    const header = req.headers[OFFLINE_MODEL_KEY_HEADER];
    const presented = (Array.isArray(header) ? header[0] : header) ?? url.searchParams.get('code') ?? undefined;
    if (!sameKey(presented, controlKey)) {
      return sendError(res, 401, `the offline model's control routes need its key (${OFFLINE_MODEL_KEY_HEADER} header or ?code=)`, { code: 'unauthorized' });
    }
    const routes: Record<string, string> = {
      '/_offline/requests': 'GET',
      '/_offline/stats': 'GET',
      '/_offline/script': 'POST',
      '/_offline/faults': 'POST',
      '/_offline/reset': 'POST',
    };
    const method = routes[path];
    if (method === undefined) return sendError(res, 404, `no route ${path}`, { code: 'not_found' });
    if (req.method !== method) {
      res.setHeader('allow', method);
      return sendError(res, 405, `${path} accepts ${method} only`, { code: 'method_not_allowed' });
    }
    if (path === '/_offline/requests') return sendJson(res, 200, records);
    if (path === '/_offline/stats') return sendJson(res, 200, stats());
    if (path === '/_offline/reset') {
      reset();
      return sendJson(res, 200, { reset: true });
    }
    const body = await readJson(req);
    if (path === '/_offline/script') {
      const parsed = ScriptBodySchema.safeParse(body);
      if (!parsed.success) return sendError(res, 400, `invalid script: ${issuesOf(parsed.error)}`);
      scripted = true;
      turns.push(...parsed.data.turns);
      return sendJson(res, 200, { queued: parsed.data.turns.length, remaining: turns.length });
    }
    const parsed = FaultsBodySchema.safeParse(body);
    if (!parsed.success) return sendError(res, 400, `invalid faults: ${issuesOf(parsed.error)}`);
    faults = parsed.data.faults.map((fault) => ({ fault, remaining: fault.count }));
    return sendJson(res, 200, { faults: faults.length });
  }

  function stats(): OfflineModelStats {
    return { inFlight, maxInFlight, requestCount: records.length, scriptRemaining: turns.length };
  }

  let own: ReadonlySet<string> = new Set();
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const path = url.pathname;
    const route = async (): Promise<void> => {
      // Only requests addressed to this loopback service (no DNS-rebinding page through a browser).
      if (!isOwnHost(req, own)) return sendError(res, 421, 'this server does not serve that authority', { code: 'misdirected_request' });
      if (path.startsWith('/_offline/')) return handleControl(req, res, url);
      const azure = AZURE_PATH.exec(path);
      const isChat = azure !== null || path === '/v1/chat/completions' || path === '/v1/chat/completions/';
      if (!isChat) return sendError(res, 404, `the offline model serves chat completions only, not ${path}`, { code: 'not_found' });
      if (req.method !== 'POST') {
        res.setHeader('allow', 'POST');
        return sendError(res, 405, 'use POST', { code: 'method_not_allowed' });
      }
      const deployment = azure?.[1] === undefined ? undefined : decodeURIComponent(azure[1]);
      return handleChat(req, res, azure ? 'azure' : 'openai', deployment, url.searchParams.get('api-version') ?? undefined);
    };
    route().catch((error: unknown) => {
      if (res.headersSent) return void res.destroy();
      if (error instanceof BadRequest && error.status === 413) {
        // The body was cut off unread: the shared 413 path drains or closes the connection.
        const text = JSON.stringify({ error: { message: error.message, type: 'invalid_request_error', param: null, code: errorCodeFor(413) } });
        return refuseTooLarge(req, res, { type: 'application/json', text });
      }
      if (error instanceof BadRequest) return sendError(res, error.status, error.message);
      sendError(res, 500, `offline model failure: ${error instanceof Error ? error.message : String(error)}`);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  own = ownAuthorities(port);
  const origin = `http://127.0.0.1:${port}`;

  return {
    url: `${origin}/v1`,
    origin,
    script,
    setFaults,
    requests: () => structuredClone(records),
    stats,
    reset,
    controlKey,
    async stop(): Promise<void> {
      stopping.abort();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
