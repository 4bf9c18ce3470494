import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { TenantBlobSpace } from '../../shared/storage/blob-store.js';
import { MemoryBlobStore } from '../../shared/storage/memory-blob-store.js';
import { builtInTools } from '../../shared/tools/built-in-tools.js';
import type { ToolContext } from '../../shared/tools/tool.js';

const store = new MemoryBlobStore();
function context(tenantId: string, callId = 'call-1', egressAllowList: string[] = []): ToolContext {
  return {
    tenantId,
    runId: 'run-1',
    callId,
    idempotencyKey: `run-1:${callId}`,
    blobs: new TenantBlobSpace(store, tenantId),
    egressAllowList,
    nowMs: () => Date.UTC(2026, 0, 2, 3, 4, 5),
    signal: new AbortController().signal,
    // Local development rules; tests never use real DNS (loopback literals need no lookup).
    egress: { local: true, resolve: async (host) => Promise.reject(Object.assign(new Error(`no DNS in tests: ${host}`), { code: 'ENOTFOUND' })) },
  };
}
const tool = (name: string) => {
  const found = builtInTools.find((t) => t.name === name);
  if (!found) throw new Error(name);
  return found;
};

describe('built-in tools', () => {
  it('describe their inputs as JSON Schema for the model', () => {
    const spec = tool('read_document').spec();
    expect(spec.parameters).toMatchObject({ type: 'object', properties: { name: { type: 'string' } }, required: ['name'] });
    expect(tool('current_time').spec().parameters).toMatchObject({ type: 'object' });
  });

  it('return invalid arguments to the model instead of throwing', async () => {
    const result = await tool('read_document').invoke({ name: 42 }, context('contoso'));
    expect(result).toMatchObject({ ok: false, error: { code: 'invalid_arguments' } });
  });

  it('keep each tenant in its own blob space', async () => {
    await new TenantBlobSpace(store, 'contoso').put('documents/kb/refunds.md', 'Refunds within 30 days.');
    const mine = await tool('read_document').invoke({ name: 'kb/refunds.md' }, context('contoso'));
    expect(mine).toMatchObject({ ok: true, output: { content: 'Refunds within 30 days.' } });
    const theirs = await tool('read_document').invoke({ name: 'kb/refunds.md' }, context('fabrikam'));
    expect(theirs).toMatchObject({ ok: false, error: { code: 'document_not_found' } });
    const listed = await tool('list_documents').invoke({}, context('contoso'));
    expect(listed).toMatchObject({ ok: true, output: { documents: [{ name: 'kb/refunds.md' }] } });
  });

  it('refuse path traversal', async () => {
    expect(await tool('read_document').invoke({ name: '../../fabrikam/documents/x' }, context('contoso'))).toMatchObject({ ok: false, error: { code: 'validation_failed' } });
  });

  it('send a reply once per idempotency key', async () => {
    const first = await tool('send_reply').invoke({ subject: 'Re: refund', body: 'Done.' }, context('contoso', 'call-9'));
    const again = await tool('send_reply').invoke({ subject: 'Re: refund', body: 'Done.' }, context('contoso', 'call-9'));
    expect(first).toMatchObject({ ok: true, output: { queued: true } });
    // A repeat (a retry after a crash mid-call) answers exactly what the first call answered.
    expect(again).toEqual(first);
    expect((await new TenantBlobSpace(store, 'contoso').list('outbox')).filter((b) => b.path.endsWith('/call-9.json'))).toHaveLength(1);
  });

  it('only reach hosts on the egress allow-list (matching rules: egress-policy.test.ts)', async () => {
    const denied = await tool('http_request').invoke({ url: 'https://example.org/' }, context('contoso', 'c', ['contoso.com']));
    expect(denied).toMatchObject({ ok: false, error: { code: 'egress_denied' } });

    const server = createServer((_req, res) => res.end('hello from upstream'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as AddressInfo).port;
      const ok = await tool('http_request').invoke({ url: `http://127.0.0.1:${port}/x` }, context('contoso', 'c', ['127.0.0.1']));
      expect(ok).toMatchObject({ ok: true, output: { status: 200, body: 'hello from upstream' } });
    } finally {
      server.close();
    }
  });

  it('cap large outputs', async () => {
    await new TenantBlobSpace(store, 'contoso').put('documents/big.txt', 'x'.repeat(400 * 1024));
    const result = await tool('read_document').invoke({ name: 'big.txt' }, context('contoso'));
    expect(result.ok && result.output).toMatchObject({ truncated: true });
  });

  it('tell the time from the injected clock', async () => {
    expect(await tool('current_time').invoke({}, context('contoso'))).toEqual({ ok: true, output: { utc: '2026-01-02T03:04:05.000Z' }, truncated: false });
  });
});

describe('tool errors', () => {
  it('hand a non-retryable failure (an invalid document path) back to the model instead of throwing', async () => {
    const found = builtInTools.find((t) => t.name === 'read_document');
    const result = await found?.invoke({ name: 'Some free text the model made up?' }, context('contoso'));
    expect(result).toMatchObject({ ok: false, error: { code: 'validation_failed' } });
  });
});
