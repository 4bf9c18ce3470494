import { z } from 'zod';
import { resolveEgressTarget, sendPinnedRequest } from './egress-request.js';
import { defineTool, ToolError, type Tool, type ToolContext } from './tool.js';

const MAX_DOC_BYTES = 256 * 1024;
const MAX_HTTP_BODY_BYTES = 64 * 1024;

export const httpRequestTool = defineTool({
  name: 'http_request',
  description: "Fetch a URL over HTTPS from a host on the tenant's allow-list. Returns status, content type and up to 64 KB of text.",
  input: z.object({
    url: z.string().url().describe('Absolute https URL'),
    method: z.enum(['GET', 'POST']).default('GET'),
    body: z
      .string()
      .max(16 * 1024)
      .optional(),
  }),
  outputMaxBytes: 70 * 1024,
  sideEffects: false,
  async execute(input, ctx: ToolContext) {
    const url = new URL(input.url);
    // Checked against the run's allow-list, resolved once, every address checked; the connection
    // goes to the checked address (egress-request.ts). Redirects come back as they are.
    const target = await resolveEgressTarget(url, ctx.egressAllowList, ctx.egress);
    const response = await sendPinnedRequest(target, {
      method: input.method,
      signal: ctx.signal,
      maxBodyBytes: MAX_HTTP_BODY_BYTES,
      ...(input.body === undefined ? {} : { body: input.body }),
    });
    if (response.status >= 500 || response.status === 429) {
      throw new ToolError('upstream_unavailable', `upstream answered ${response.status}`, true);
    }
    return { status: response.status, contentType: response.contentType, body: response.body.toString('utf8'), truncated: response.truncated };
  },
});

export const listDocumentsTool = defineTool({
  name: 'list_documents',
  description: "List documents in the tenant's document store (knowledge base articles, reports), optionally under a folder prefix.",
  input: z.object({ prefix: z.string().max(200).default(''), limit: z.number().int().min(1).max(200).default(50) }),
  outputMaxBytes: 32 * 1024,
  sideEffects: false,
  async execute(input, ctx) {
    const docs = await ctx.blobs.list(input.prefix === '' ? 'documents' : `documents/${input.prefix}`, input.limit);
    return { documents: docs.map((d) => ({ name: d.path.replace(/^documents\//, ''), size: d.size, lastModified: d.lastModified })) };
  },
});

export const readDocumentTool = defineTool({
  name: 'read_document',
  description: "Read one document from the tenant's document store by name (as list_documents returns it).",
  input: z.object({ name: z.string().min(1).max(400) }),
  outputMaxBytes: MAX_DOC_BYTES + 1024,
  sideEffects: false,
  async execute(input, ctx) {
    const content = await ctx.blobs.get(`documents/${input.name}`);
    if (!content) throw new ToolError('document_not_found', `no document named "${input.name}"`);
    return { name: input.name, content: content.subarray(0, MAX_DOC_BYTES).toString('utf8'), truncated: content.length > MAX_DOC_BYTES };
  },
});

export const writeDocumentTool = defineTool({
  name: 'write_document',
  description: "Save a document (for example a report) in the tenant's document store. Overwrites a document of the same name.",
  input: z.object({ name: z.string().min(1).max(400), content: z.string().max(MAX_DOC_BYTES) }),
  outputMaxBytes: 2 * 1024,
  sideEffects: true,
  async execute(input, ctx) {
    // Idempotent by nature: the same call writes the same content to the same name.
    const result = await ctx.blobs.put(`documents/${input.name}`, input.content, { contentType: 'text/markdown; charset=utf-8' });
    return { name: input.name, bytes: Buffer.byteLength(input.content), etag: result.etag };
  },
});

export const currentTimeTool = defineTool({
  name: 'current_time',
  description: 'The current date and time in UTC (ISO 8601).',
  input: z.object({}),
  outputMaxBytes: 256,
  sideEffects: false,
  async execute(_input, ctx) {
    return { utc: new Date(ctx.nowMs()).toISOString() };
  },
});

export const sendReplyTool = defineTool({
  name: 'send_reply',
  description: 'Send a reply to the customer who opened the ticket. Needs human approval before it runs.',
  input: z.object({ subject: z.string().min(1).max(200), body: z.string().min(1).max(20_000) }),
  outputMaxBytes: 1024,
  sideEffects: true,
  async execute(input, ctx) {
    // The outbox is keyed by the idempotency key, so a retried or replayed call sends once; a
    // repeat answers exactly what the first call answered (the model must not see a difference).
    const path = `outbox/${ctx.runId}/${ctx.callId}.json`;
    const message = { ...input, runId: ctx.runId, idempotencyKey: ctx.idempotencyKey, queuedAt: new Date(ctx.nowMs()).toISOString() };
    const result = await ctx.blobs.put(path, JSON.stringify(message), { contentType: 'application/json', ifNoneMatch: true });
    let queuedAt = message.queuedAt;
    if (!result.created) {
      const stored = await ctx.blobs.get(path);
      queuedAt = stored ? (JSON.parse(stored.toString('utf8')) as { queuedAt: string }).queuedAt : queuedAt;
    }
    return { queued: true, outboxPath: path, queuedAt };
  },
});

export const builtInTools: readonly Tool[] = [httpRequestTool, listDocumentsTool, readDocumentTool, writeDocumentTool, currentTimeTool, sendReplyTool];
