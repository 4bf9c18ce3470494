import { z } from 'zod';
import { defineTool, ToolError, type Tool, type ToolContext } from './tool.js';

const MAX_DOC_BYTES = 256 * 1024;

/** True when `host` is on the allow-list: exact match or a `*.example.com` suffix entry. */
export function hostAllowed(host: string, allowList: readonly string[]): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  return allowList.some((entry) => {
    const e = entry.toLowerCase();
    return e.startsWith('*.') ? h.endsWith(e.slice(1)) && h.length > e.length - 1 : h === e;
  });
}

export const httpRequestTool = defineTool({
  name: 'http_request',
  description: "Fetch a URL over HTTPS from a host on the tenant's allow-list. Returns status, content type and up to 64 KB of text.",
  input: z.object({
    url: z.string().url().describe('Absolute https URL'),
    method: z.enum(['GET', 'POST']).default('GET'),
    body: z.string().max(16 * 1024).optional(),
  }),
  outputMaxBytes: 70 * 1024,
  sideEffects: false,
  async execute(input, ctx: ToolContext) {
    const url = new URL(input.url);
    const loopbackForTests = url.protocol === 'http:' && (url.hostname === '127.0.0.1' || url.hostname === 'localhost');
    if (url.protocol !== 'https:' && !loopbackForTests) throw new ToolError('egress_denied', 'only https URLs are allowed');
    if (!hostAllowed(url.hostname, ctx.egressAllowList)) {
      throw new ToolError('egress_denied', `host "${url.hostname}" is not on this tenant's egress allow-list`);
    }
    const response = await ctx.fetch(url, {
      method: input.method,
      redirect: 'manual',
      signal: ctx.signal,
      ...(input.body === undefined ? {} : { body: input.body }),
    });
    const reader = response.body?.getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    while (reader) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      chunks.push(value);
      if (size > 64 * 1024) {
        await reader.cancel();
        break;
      }
    }
    const text = Buffer.concat(chunks).subarray(0, 64 * 1024).toString('utf8');
    if (response.status >= 500 || response.status === 429) {
      throw new ToolError('upstream_unavailable', `upstream answered ${response.status}`, true);
    }
    return { status: response.status, contentType: response.headers.get('content-type'), body: text, truncated: size > 64 * 1024 };
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

export const builtInTools: readonly Tool[] = [
  httpRequestTool,
  listDocumentsTool,
  readDocumentTool,
  writeDocumentTool,
  currentTimeTool,
  sendReplyTool,
];
