import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostFixture, LIBRARY_VERSIONS, type HostedFixture } from './conformance-kit.js';

/**
 * Issue 13 items 2, 3 and 6, for every pinned `@azure/functions`: the request the host hands the
 * worker (body only with Content-Length > 0, the query map), what postInvocation hooks see, and
 * Set-Cookie as the host renders it. The fixture is `fixtures/http-app/`.
 */
for (const library of LIBRARY_VERSIONS) {
  describe(`HTTP requests and responses as the host shapes them, @azure/functions ${library.label}`, () => {
    let host: HostedFixture;
    beforeAll(async () => {
      host = await hostFixture('http-app', library);
    });
    afterAll(async () => {
      expect(await host?.close()).toBe(0);
    });

    it('GET and HEAD without a body reach the handler (no body is sent, so no "GET/HEAD cannot have body")', async () => {
      const get = await fetch(`${host.url}/api/probe`);
      expect(get.status).toBe(200);
      expect(await get.json()).toMatchObject({ method: 'GET', bodyLength: 0 });

      const head = await fetch(`${host.url}/api/probe`, { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(head.headers.get('x-handled-method')).toBe('HEAD');
    });

    it('passes a body with Content-Length; drops a chunked one, as the host does', async () => {
      const sized = await fetch(`${host.url}/api/probe`, { method: 'POST', body: 'four' });
      expect(await sized.json()).toMatchObject({ method: 'POST', bodyLength: 4 });

      const chunked = await fetch(`${host.url}/api/probe`, {
        method: 'POST',
        body: new ReadableStream({
          start(controller) {
            controller.enqueue(new TextEncoder().encode('not passed on'));
            controller.close();
          },
        }),
        duplex: 'half',
      } as RequestInit);
      expect(chunked.status).toBe(200);
      expect(await chunked.json()).toMatchObject({ method: 'POST', bodyLength: 0 });
    });

    it('fills request.query from the host query map: one value per name, repeats joined with ","', async () => {
      const res = await fetch(`${host.url}/api/probe/ada?tag=a&tag=b&Tag=c&empty=&x=1+2&y=%C3%A9`);
      const seen = (await res.json()) as { query: [string, string][]; tags: string[]; params: Record<string, string> };
      expect(seen.query).toEqual([
        ['tag', 'a,b,c'],
        ['empty', ''],
        ['x', '1 2'],
        ['y', 'é'],
      ]);
      expect(seen.tags).toEqual(['a,b,c']);
      expect(seen.params).toEqual({ name: 'ada' });
    });

    it('starts the postInvocation hook context at null: result after a throw, error after success', async () => {
      await fetch(`${host.url}/api/hookLog`);
      expect((await fetch(`${host.url}/api/probe`)).status).toBe(200);
      expect((await fetch(`${host.url}/api/fails`)).status).toBe(500);
      expect((await fetch(`${host.url}/api/returnsNothing`)).status).toBe(204);
      const log = await (await fetch(`${host.url}/api/hookLog`)).json();
      expect(log).toEqual([
        { function: 'probe', result: 'object', error: 'null' },
        { function: 'fails', result: 'null', error: 'object' },
        { function: 'returnsNothing', result: 'undefined', error: 'null' },
      ]);
    });

    it('renders Set-Cookie as the host (ASP.NET Core SetCookieHeaderValue): order, lower case, default path /', async () => {
      const res = await fetch(`${host.url}/api/cookies`);
      expect(res.status).toBe(200);
      expect(res.headers.getSetCookie()).toEqual([
        'fromHeader=1',
        'plain=v; path=/',
        'full=a%20b%3Bc; expires=Wed, 02 Jan 2030 03:04:05 GMT; max-age=3600; domain=example.test; path=/app; secure; samesite=strict; httponly',
        'lax=1; path=/; samesite=lax',
        'none=1; path=/; secure; samesite=none',
      ]);
    });
  });
}
