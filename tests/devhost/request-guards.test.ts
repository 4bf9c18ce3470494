import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_REQUEST_BODY_LIMIT_BYTES, OVERFLOW_DRAIN_BYTES, readBody } from '../../devhost/host/request-body.js';
import { startDurableHarness, type DurableHarness } from '../durable/durable-test-kit.js';
import { withCode } from '../helpers/devhost-keys.js';
import { rejection } from '../helpers/rejection.js';

/** One request with full control of the headers (fetch does not let a test forge `Host`). */
function raw(url: string, options: { method?: string; headers?: Record<string, string>; body?: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers ?? {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A raw TCP client: the first response head, later text, and when the server closes the connection. */
function openSocket(port: number): { socket: Socket; head: Promise<string>; closed: Promise<void>; waitFor(pattern: RegExp): Promise<void> } {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined); // EPIPE / ECONNRESET once the server cuts an over-long body
  let received = '';
  const waiters: { pattern: RegExp; resolve: () => void }[] = [];
  socket.on('data', (chunk: Buffer) => {
    received += chunk.toString('latin1');
    for (const w of waiters.filter((w) => w.pattern.test(received))) w.resolve();
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const waitFor = (pattern: RegExp): Promise<void> =>
    new Promise((resolve, reject) => {
      if (pattern.test(received)) return resolve();
      waiters.push({ pattern, resolve });
      void closed.then(() => (pattern.test(received) ? resolve() : reject(new Error(`closed before ${pattern}; got ${JSON.stringify(received.slice(0, 300))}`))));
    });
  const head = waitFor(/\r\n\r\n/).then(() => received.slice(0, received.indexOf('\r\n\r\n')));
  head.catch(() => undefined);
  return { socket, head, closed, waitFor };
}

/** Writes `chunk` as chunked-encoding frames until `stop()` or the socket closes, honouring backpressure. */
async function pumpChunks(socket: Socket, closed: Promise<void>, chunk: Buffer, stop: () => boolean, maxBytes: number): Promise<number> {
  let sent = 0;
  let isClosed = false;
  void closed.then(() => (isClosed = true));
  const frame = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]);
  while (!stop() && !isClosed && sent < maxBytes) {
    sent += chunk.length;
    if (!socket.write(frame)) await Promise.race([new Promise((r) => socket.once('drain', r)), closed]);
  }
  return sent;
}

const statusOf = (head: string): number => Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? '0');

describe('the devhost serves only its own loopback Host, and refuses cross-site writes to its APIs', () => {
  let h: DurableHarness;
  beforeAll(async () => {
    h = await startDurableHarness();
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('answers 421 to a foreign Host (DNS rebinding) at every door, before any key check', async () => {
    const key = h.host.keys.keys.masterKey;
    const port = h.host.port;
    const doors: [string, string, string?][] = [
      ['durable API', withCode(`${h.url}/runtime/webhooks/durabletask/instances/`, key)],
      ['admin API', withCode(`${h.url}/admin/host/status`, key)],
      ['app route', `${h.url}/api/orchestrators/echoInput`, 'POST'],
    ];
    for (const [door, url, method] of doors) {
      for (const host of [`attacker.example:${port}`, `attacker.example`, `127.0.0.1`, `127.0.0.1:${port + 1}`, `0.0.0.0:${port}`, `localhost.attacker.example:${port}`]) {
        const res = await raw(url, { method: method ?? 'GET', headers: { host } });
        expect(res.status, `${door} with Host ${host}`).toBe(421);
      }
    }
    expect(h.durable.listInstances()).toEqual([]);
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`, `[::1]:${port}`]) {
      const res = await raw(withCode(`${h.url}/admin/host/status`, key), { headers: { host } });
      expect(res.status, `Host ${host}`).toBe(200);
    }
  });

  it('refuses a cross-site POST to raiseEvent (403) and leaves the instance waiting', async () => {
    const id = await h.start('waitThenWork');
    await h.until(id, (b) => b['runtimeStatus'] === 'Running');
    const url = h.keyed(`${h.url}/runtime/webhooks/durabletask/instances/${id}/raiseEvent/go`);
    const browser: Record<string, string>[] = [
      { 'sec-fetch-site': 'cross-site', origin: 'https://attacker.example' },
      { 'sec-fetch-site': 'same-site' }, // another local port of the same machine
      { origin: 'https://attacker.example' },
      { origin: `http://localhost:${h.host.port + 1}` },
      { origin: 'null' },
    ];
    for (const headers of browser) {
      // text/plain: what a cross-site form post can send without a preflight.
      const res = await raw(url, { method: 'POST', headers: { ...headers, 'content-type': 'text/plain' }, body: '"approved"' });
      expect(res.status, JSON.stringify(headers)).toBe(403);
    }
    expect((await h.status(id)).body['runtimeStatus']).toBe('Running');
    const admin = await raw(withCode(`${h.url}/admin/functions/echo`, h.host.keys.keys.masterKey), {
      method: 'POST',
      headers: { 'sec-fetch-site': 'cross-site', 'content-type': 'application/json' },
      body: '{"input":"x"}',
    });
    expect(admin.status).toBe(403);

    // The devhost's own origin, and non-browser clients, are served.
    const own = await raw(url, { method: 'POST', headers: { origin: h.url, 'sec-fetch-site': 'same-origin', 'content-type': 'application/json' }, body: '"own"' });
    expect(own.status).toBe(202);
    expect((await h.finished(id)).output).toBe('"own"');
  });

  it("keeps the app's own routes open to cross-origin requests, as Azure does", async () => {
    const res = await raw(`${h.url}/api/orchestrators/echoInput`, {
      method: 'POST',
      headers: { origin: 'https://some-spa.example', 'sec-fetch-site': 'cross-site' },
      body: '"from a browser app"',
    });
    expect(res.status).toBe(202);
    const { id } = JSON.parse(res.body) as { id: string };
    expect((await h.finished(id)).output).toBe('"from a browser app"');
  });
});

describe('request body limit (FUNCTIONS_REQUEST_BODY_SIZE_LIMIT)', () => {
  let h: DurableHarness;
  beforeAll(async () => {
    // No limit passed: the devhost's default applies.
    h = await startDurableHarness();
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('defaults to 4 MiB, and local.settings.sample.json sets the same', () => {
    expect(DEFAULT_REQUEST_BODY_LIMIT_BYTES).toBe(4 * 1024 * 1024);
    const sample = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'local.settings.sample.json'), 'utf8')) as { Values: Record<string, string> };
    expect(sample.Values['FUNCTIONS_REQUEST_BODY_SIZE_LIMIT']).toBe(String(DEFAULT_REQUEST_BODY_LIMIT_BYTES));
  });

  it('answers 413 to a declared Content-Length over the limit before any of the body is sent, at every door', async () => {
    const code = encodeURIComponent(h.systemKey);
    const master = encodeURIComponent(h.host.keys.keys.masterKey);
    const targets = [
      '/api/orchestrators/echoInput', // app route (anonymous)
      `/runtime/webhooks/durabletask/orchestrators/echoInput?code=${code}`,
      `/admin/functions/echo?code=${master}`,
      '/no/such/route',
    ];
    for (const [i, target] of targets.entries()) {
      const expectContinue = i === 0 ? 'expect: 100-continue\r\n' : '';
      const { socket, head, closed } = openSocket(h.host.port);
      // Headers only: 10 MB declared, not a byte of body written.
      socket.write(`POST ${target} HTTP/1.1\r\nhost: 127.0.0.1:${h.host.port}\r\ncontent-type: application/json\r\ncontent-length: ${10 * 1024 * 1024}\r\n${expectContinue}\r\n`);
      const answer = await head;
      expect(statusOf(answer), target).toBe(413);
      expect(answer.toLowerCase()).toContain('connection: close');
      await closed; // and the server closes the connection rather than wait for the body
    }
    expect(h.durable.listInstances()).toEqual([]);
  });

  it('stops reading a chunked body at the limit: 413, then the connection is cut after a bounded drain', async () => {
    const code = encodeURIComponent(h.systemKey);
    for (const target of ['/api/orchestrators/echoInput', `/runtime/webhooks/durabletask/orchestrators/echoInput?code=${code}`]) {
      const { socket, head, closed } = openSocket(h.host.port);
      socket.write(`POST ${target} HTTP/1.1\r\nhost: 127.0.0.1:${h.host.port}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n`);
      let answered = false;
      void head.then(
        () => (answered = true),
        () => undefined,
      );
      // An endless body: keep sending until the server answers, then until it hangs up.
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const cap = 10 * DEFAULT_REQUEST_BODY_LIMIT_BYTES;
      await pumpChunks(socket, closed, chunk, () => answered, cap);
      expect(statusOf(await head), target).toBe(413);
      const sent = await pumpChunks(socket, closed, chunk, () => false, cap);
      await closed;
      expect(sent, 'the server hung up long before the client gave up').toBeLessThan(cap);
    }
    expect(h.durable.listInstances()).toEqual([]);
  });

  it('refuses a chunked body just over the limit and, when the rest is short, keeps the connection usable', async () => {
    const { socket, head, waitFor } = openSocket(h.host.port);
    const chunk = Buffer.alloc(DEFAULT_REQUEST_BODY_LIMIT_BYTES + 1, 0x20);
    expect(chunk.length - DEFAULT_REQUEST_BODY_LIMIT_BYTES).toBeLessThan(OVERFLOW_DRAIN_BYTES);
    socket.write(`POST /api/orchestrators/echoInput HTTP/1.1\r\nhost: 127.0.0.1:${h.host.port}\r\ntransfer-encoding: chunked\r\n\r\n`);
    socket.write(Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n0\r\n\r\n')]));
    expect(statusOf(await head)).toBe(413);
    // The rest was drained (not kept), so the next request on the same connection is served.
    socket.write(`GET /admin/host/status?code=${encodeURIComponent(h.host.keys.keys.masterKey)} HTTP/1.1\r\nhost: 127.0.0.1:${h.host.port}\r\n\r\n`);
    await waitFor(/HTTP\/1\.1 200 OK/);
    socket.destroy();
    expect(h.durable.listInstances()).toEqual([]);
  });
});

describe('readBody', () => {
  /** A request stream that produces `chunk` on demand, counting what was pulled from it. */
  function source(chunk: Buffer, total: number): Readable & { pulled: number } {
    let pulled = 0;
    const stream = new Readable({
      highWaterMark: chunk.length,
      read() {
        if (pulled >= total) return void this.push(null);
        pulled += chunk.length;
        this.push(chunk);
      },
    });
    return Object.assign(
      stream,
      { headers: {} },
      {
        get pulled() {
          return pulled;
        },
      },
    ) as unknown as Readable & { pulled: number };
  }

  it('holds at most the limit plus one chunk, and stops pulling from the socket once over', async () => {
    const chunk = Buffer.alloc(16 * 1024, 1);
    const limit = 100 * 1024;
    const req = source(chunk, 64 * 1024 * 1024);
    const error = await rejection(readBody(req as unknown as IncomingMessage, limit));
    expect(error).toMatchObject({ name: 'RequestTooLargeError' });
    const delivered = req.pulled - req.readableLength;
    expect(delivered).toBeLessThanOrEqual(limit + chunk.length);
    const pulledAtRejection = req.pulled;
    // Give the stream every chance to keep flowing: it does not, it is paused.
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(req.pulled).toBe(pulledAtRejection);
    expect(req.pulled).toBeLessThanOrEqual(limit + 2 * chunk.length);
    expect(req.isPaused()).toBe(true);
  });

  it('returns the body when it fits', async () => {
    const chunk = Buffer.from('abc');
    const req = source(chunk, 9);
    expect((await readBody(req as unknown as IncomingMessage, 9)).toString()).toBe('abcabcabc');
  });
});

describe('local services answer only requests addressed to them', () => {
  it('the offline model and the development token issuer refuse a foreign Host with 421', async () => {
    const { request } = await import('node:http');
    const { startOfflineModel } = await import('../../devhost/local-services/offline-model/server.js');
    const { startDevTokenIssuer } = await import('../../devhost/local-services/dev-token-issuer.js');
    const model = await startOfflineModel();
    const issuer = await startDevTokenIssuer({ port: 0 });
    const get = (base: string, path: string, host?: string) =>
      new Promise<number>((resolve, reject) => {
        const url = new URL(path, base);
        const req = request({ host: '127.0.0.1', port: url.port, path: url.pathname, method: 'GET', headers: host ? { host } : {} }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
    try {
      expect(await get(issuer.url, '/common/discovery/v2.0/keys', 'rebound.example:7073')).toBe(421);
      expect(await get(issuer.url, '/common/discovery/v2.0/keys')).toBe(200);
      expect(await get(model.origin, '/_offline/stats', 'rebound.example')).toBe(421);
      // Its own address still works (the control key is a separate check).
      expect(await get(model.origin, '/_offline/stats')).toBe(401);
    } finally {
      await model.stop();
      await issuer.stop();
    }
  });
});
