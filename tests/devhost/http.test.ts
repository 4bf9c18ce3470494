import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevhost, type Devhost } from '../../devhost/host/host.js';

const appDir = join(import.meta.dirname, '..', 'fixtures', 'basic-app');

describe('devhost HTTP triggers', () => {
  let host: Devhost;
  beforeAll(async () => {
    process.env['TICKER_SCHEDULE'] = '0 0 0 1 1 *';
    host = await startDevhost({ appDir, port: 0, storage: 'memory', logLevel: 'error', maxRequestBodyBytes: 1024 });
  });
  afterAll(async () => {
    await host?.stop();
  });

  const get = (path: string, init?: RequestInit) => fetch(`${host.url}${path}`, init);

  it('matches optional parameters', async () => {
    expect(await (await get('/api/hello/ada')).text()).toBe('hello ada');
    expect(await (await get('/api/hello')).text()).toBe('hello world');
    expect(await (await get('/API/Hello/')).text()).toBe('hello world');
  });

  it('applies constraints and prefers literal segments', async () => {
    expect(await (await get('/api/items/42')).json()).toEqual({ kind: 'int', id: '42' });
    expect(await (await get('/api/items/widget')).json()).toEqual({ kind: 'slug', slug: 'widget', method: 'GET' });
    expect(await (await get('/api/items/latest')).json()).toEqual({ kind: 'literal' });
    // Neither int nor alpha: no route.
    expect((await get('/api/items/4x2')).status).toBe(404);
  });

  it('captures the rest of the path with a catch-all', async () => {
    expect(await (await get('/api/files/a/b/c.txt')).json()).toEqual({ path: 'a/b/c.txt' });
    expect(await (await get('/api/files')).json()).toEqual({ path: null });
  });

  it('defaults the route to the function name', async () => {
    expect(await (await get('/api/defaultRoute')).text()).toBe('route defaults to the function name');
  });

  it('answers 404 for unknown paths and, like the Functions host, for a method the route does not accept', async () => {
    expect((await get('/api/nope')).status).toBe(404);
    expect((await get('/elsewhere')).status).toBe(404);
    const wrongMethod = await get('/api/items/42', { method: 'POST' });
    expect(wrongMethod.status).toBe(404);
    // Another function on the same template with that method still wins.
    expect((await get('/api/items/abc', { method: 'DELETE' })).status).toBe(200);
  });

  it('answers 405 with Allow on devhost admin routes called with the wrong method', async () => {
    const res = await get('/admin/host/status', { method: 'POST', headers: { 'x-functions-key': host.keys.keys.masterKey } });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET');
  });

  it('enforces function-level keys from header or query', async () => {
    const functionKey = host.keys.keys.functionKeys['secure']?.['default'] ?? '';
    const hostKey = host.keys.keys.hostKeys['default'] ?? '';
    expect((await get('/api/secure')).status).toBe(401);
    expect((await get('/api/secure', { headers: { 'x-functions-key': 'wrong' } })).status).toBe(401);
    expect((await get('/api/secure', { headers: { 'x-functions-key': functionKey } })).status).toBe(200);
    expect((await get(`/api/secure?code=${encodeURIComponent(hostKey)}`)).status).toBe(200);
    expect((await get(`/api/secure?code=${encodeURIComponent(host.keys.keys.masterKey)}`)).status).toBe(200);
    // Another function's key does not open this one.
    const otherKey = host.keys.keys.functionKeys['hello']?.['default'] ?? '';
    expect((await get('/api/secure', { headers: { 'x-functions-key': otherKey } })).status).toBe(401);
  });

  it('enforces admin level: only the master key', async () => {
    const hostKey = host.keys.keys.hostKeys['default'] ?? '';
    expect((await get('/api/admin-only')).status).toBe(401);
    expect((await get('/api/admin-only', { headers: { 'x-functions-key': hostKey } })).status).toBe(401);
    const ok = await get('/api/admin-only', { headers: { 'x-functions-key': host.keys.keys.masterKey } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe('admin-level ok');
  });

  it('anonymous functions need no key', async () => {
    expect((await get('/api/hello')).status).toBe(200);
  });

  it('passes raw body bytes, query, headers and cookies, and returns status, headers and cookies', async () => {
    const payload = Buffer.from([0, 1, 2, 250, 255]);
    const res = await get('/api/echo?x=1&tag=a&tag=b', {
      method: 'POST',
      body: payload,
      headers: { 'content-type': 'application/octet-stream', cookie: 'theme=dark; lang=en' },
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-echo-length')).toBe('5');
    // Rendered as ASP.NET Core does for the host: lower-case attributes in its fixed order.
    expect(res.headers.get('set-cookie')).toBe('session=abc; path=/; httponly');
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      method: 'POST',
      // The host sends one value per name, repeats joined with ',' (ASP.NET Core StringValues), so
      // the library sees `tag=a,b` (nodejs-library#168).
      query: { x: '1', tag: 'a,b' },
      tags: ['a,b'],
      contentType: 'application/octet-stream',
      cookie: 'theme=dark; lang=en',
      bodyBase64: payload.toString('base64'),
    });
    expect(body['url']).toBe(`${host.url}/api/echo?x=1&tag=a&tag=b`);
  });

  it('rejects a body over the limit with 413 without invoking the function', async () => {
    const res = await get('/api/echo', { method: 'POST', body: Buffer.alloc(2048, 1) });
    expect(res.status).toBe(413);
  });

  it('turns a thrown handler into an empty 500 with no stack trace', async () => {
    const res = await get('/api/boom');
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(text).not.toContain('secret internal detail');
    expect(text).not.toContain('at ');
  });

  it('answers 204 when the handler returns nothing', async () => {
    expect((await get('/api/nothing')).status).toBe(204);
  });

  it('answers a malformed request with 400 and keeps serving', async () => {
    const { connect } = await import('node:net');
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect(host.port, '127.0.0.1', () => socket.write('GARBAGE \x01\x02 HTTP/9\r\n\r\n'));
      let data = '';
      socket.on('data', (d) => (data += d.toString()));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
    expect(reply).toMatch(/^HTTP\/1\.1 400/);
    expect((await get('/api/hello')).status).toBe(200);
  });

  it('calls invocation hooks in order, sharing hookData', async () => {
    const log = (globalThis as { __basicAppHooks?: string[] }).__basicAppHooks ?? [];
    log.length = 0;
    await get('/api/hello/x');
    await get('/api/boom');
    expect(log).toEqual(['pre:hello', 'post:hello:pre:ok', 'pre:boom', 'post:boom:pre:error']);
  });
});
