import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostFixture, LIBRARY_VERSIONS, type HostedFixture } from './conformance-kit.js';

/**
 * Issue 13 item 4: `app.setup({ enableHttpStream: true })` (in `@azure/functions` since 4.3.0,
 * `src/setup.ts`), so the devhost forwards requests to the library's HTTP proxy as the host does.
 * Every step waits on a signal from the app (fixtures/http-stream-app/), never on time.
 */
const CHUNK_BYTES = 64 * 1024;

for (const library of LIBRARY_VERSIONS) {
  describe(`HTTP streaming, @azure/functions ${library.label}`, () => {
    let host: HostedFixture;
    beforeAll(async () => {
      host = await hostFixture('http-stream-app', library);
    });
    afterAll(async () => {
      expect(await host?.close()).toBe(0);
    });

    const waitFor = async (signal: string): Promise<unknown> => {
      const res = await fetch(`${host.url}/api/waitFor?signal=${encodeURIComponent(signal)}`);
      expect(res.status).toBe(200);
      return ((await res.json()) as { value: unknown }).value;
    };

    it('answers GET and HEAD through the proxy, with the URL the client used', async () => {
      const get = await fetch(`${host.url}/api/probe/ada?tag=a`);
      expect(get.status).toBe(200);
      expect(get.headers.get('x-ms-invocation-id')).toMatch(/^[0-9a-f-]{36}$/);
      expect(await get.json()).toEqual({ method: 'GET', url: `${host.url}/api/probe/ada?tag=a`, tags: ['a'], hasBody: false });

      const head = await fetch(`${host.url}/api/probe`, { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(head.headers.get('x-handled-method')).toBe('HEAD');
    });

    it('answers 500 when the function throws before answering the proxy', async () => {
      // The real host would wait out its 240 s proxy timeout here (the library answers the proxy
      // only from a successful invocation); the devhost answers at once.
      expect((await fetch(`${host.url}/api/fails`)).status).toBe(500);
      expect((await fetch(`${host.url}/api/probe`)).status).toBe(200);
    });

    it('streams a large response: the client reads the first chunk while the function is still producing', async () => {
      const id = randomUUID();
      const chunks = 16;
      const res = await fetch(`${host.url}/api/bigStream?id=${id}&chunks=${chunks}`);
      expect(res.status).toBe(200);
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      let received = 0;
      let reads = 0;
      // The function sends the rest only once released, so these bytes came before it finished.
      while (received < CHUNK_BYTES) {
        const { done, value } = await reader.read();
        expect(done).toBe(false);
        received += value?.length ?? 0;
        reads += 1;
      }
      expect(received).toBe(CHUNK_BYTES);
      expect((await fetch(`${host.url}/api/release?id=${id}`, { method: 'POST' })).status).toBe(204);
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        received += value.length;
        reads += 1;
      }
      expect(received).toBe(chunks * CHUNK_BYTES);
      expect(reads).toBeGreaterThan(1);
    });

    it('keeps serving after a client leaves in the middle of a streamed response', async () => {
      const id = randomUUID();
      const abort = new AbortController();
      const res = await fetch(`${host.url}/api/bigStream?id=${id}&chunks=64`, { signal: abort.signal });
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      expect((await reader.read()).done).toBe(false);
      abort.abort();
      // The function goes on writing into the closed exchange, to its end.
      expect((await fetch(`${host.url}/api/release?id=${id}`, { method: 'POST' })).status).toBe(204);
      expect(['closed', 'cancelled']).toContain(await waitFor(`streamEnded:${id}`));
      expect((await fetch(`${host.url}/api/probe`)).status).toBe(200);
      expect(host.child.exitCode).toBeNull();
    });

    it('streams the request body: the function reads the first chunk before the client sent the rest', async () => {
      const id = randomUUID();
      const encoder = new TextEncoder();
      let sentRest = false;
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(encoder.encode('first;'));
        },
        async pull(controller) {
          if (sentRest) return;
          sentRest = true;
          await waitFor(`firstChunk:${id}`);
          controller.enqueue(encoder.encode('second;'));
          controller.close();
        },
      });
      const res = await fetch(`${host.url}/api/upload?id=${id}`, { method: 'POST', body, duplex: 'half' } as RequestInit);
      expect(res.status).toBe(200);
      const seen = (await res.json()) as { bytes: number; chunks: number };
      expect(seen.bytes).toBe('first;second;'.length);
      expect(seen.chunks).toBeGreaterThanOrEqual(2);
    });

    it('lets the function see a client that goes away: its request body stream fails', async () => {
      const id = randomUUID();
      const abort = new AbortController();
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('partial'));
        },
      });
      const request = fetch(`${host.url}/api/upload?id=${id}`, { method: 'POST', body, duplex: 'half', signal: abort.signal } as RequestInit);
      const failed = request.then(
        () => false,
        () => true,
      );
      await waitFor(`firstChunk:${id}`);
      abort.abort();
      expect(await failed).toBe(true);
      expect(typeof (await waitFor(`disconnect:${id}`))).toBe('string');
    });
  });
}
