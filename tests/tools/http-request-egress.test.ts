import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../shared/config.js';
import { TenantSchema } from '../../shared/tenancy/tenant.js';
import { StaticTenantDirectory } from '../../shared/tenancy/tenant-directory.js';
import { MemoryBlobStore } from '../../shared/storage/memory-blob-store.js';
import { TenantBlobSpace } from '../../shared/storage/blob-store.js';
import { httpRequestTool } from '../../shared/tools/built-in-tools.js';
import { effectiveEgressAllowList } from '../../shared/tools/egress-policy.js';
import { sendPinnedRequest, type HostResolver, type ResolvedAddress } from '../../shared/tools/egress-request.js';
import type { ToolContext } from '../../shared/tools/tool.js';

const repoRoot = join(import.meta.dirname, '..', '..');

/** A resolver stub: answers from a table (one answer per call, the last one repeating) and logs calls. */
function stubResolver(table: Record<string, readonly (readonly string[])[]>): HostResolver & { calls: string[] } {
  const calls: string[] = [];
  const resolve = async (hostname: string): Promise<ResolvedAddress[]> => {
    calls.push(hostname);
    const answers = table[hostname];
    if (!answers) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    const answer = answers[Math.min(calls.filter((h) => h === hostname).length, answers.length) - 1] ?? [];
    return answer.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  return Object.assign(resolve, { calls });
}

function context(egressAllowList: readonly string[], resolve: HostResolver, local: boolean): ToolContext {
  return {
    tenantId: 'contoso',
    runId: 'run-1',
    callId: 'c1',
    idempotencyKey: 'run-1:c1',
    blobs: new TenantBlobSpace(new MemoryBlobStore(), 'contoso'),
    egressAllowList,
    egress: { local, resolve },
    nowMs: () => 0,
    signal: new AbortController().signal,
  };
}

interface Seen {
  path: string | undefined;
  headers: IncomingHttpHeaders;
  servername?: string | false | null | undefined;
}

/** A loopback upstream that records what reached it. */
async function listen(server: Server, seen: Seen[]): Promise<number> {
  server.on('request', (req, res) => {
    seen.push({ path: req.url, headers: req.headers, servername: (req.socket as Partial<TLSSocket>).servername });
    if (req.url === '/redirect') {
      res.writeHead(302, { location: `http://127.0.0.1:${(server.address() as AddressInfo).port}/followed` });
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`hello from ${req.url}`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

const seen: Seen[] = [];
const upstream = createServer();
let port = 0;
beforeAll(async () => {
  port = await listen(upstream, seen);
});
afterAll(() => new Promise<void>((r) => upstream.close(() => r())));

const denied = (message: RegExp) => ({ ok: false, error: { code: 'egress_denied', message: expect.stringMatching(message) } });

describe('http_request egress: ports', () => {
  it('refuses a port other than the entry names, and a portless entry means 443 only', async () => {
    const resolve = stubResolver({ 'api.contoso.test': [['203.0.113.10']] });
    const portEntry = context(['api.contoso.test:8443'], resolve, false);
    expect(await httpRequestTool.invoke({ url: 'https://api.contoso.test/' }, portEntry)).toMatchObject(denied(/"api.contoso.test" port 443 is not on/));
    const bare = context(['api.contoso.test'], resolve, false);
    expect(await httpRequestTool.invoke({ url: 'https://api.contoso.test:8443/' }, bare)).toMatchObject(denied(/port 8443 is not on/));
    // Refused before any lookup.
    expect(resolve.calls).toEqual([]);
  });

  it('reaches a loopback upstream on its port through an entry with that port', async () => {
    const result = await httpRequestTool.invoke({ url: `http://127.0.0.1:${port}/with-port` }, context([`127.0.0.1:${port}`], stubResolver({}), true));
    expect(result).toMatchObject({ ok: true, output: { status: 200, body: 'hello from /with-port' } });
    expect(await httpRequestTool.invoke({ url: `http://127.0.0.1:${port}/` }, context([`127.0.0.1:${port + 1}`], stubResolver({}), true))).toMatchObject(
      denied(/not on this run's egress allow-list/),
    );
  });
});

describe('http_request egress: addresses behind an allowed name', () => {
  const blocked: [string, string][] = [
    ['10.0.0.5', 'private'],
    ['169.254.169.254', 'cloud metadata'],
    ['168.63.129.16', 'cloud metadata'],
    ['fd00:ec2::254', 'cloud metadata'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:a9fe:a9fe', 'cloud metadata'],
    ['127.0.0.1', 'loopback'],
    ['100.64.0.7', 'shared \\(CGNAT\\)'],
    ['fe80::1', 'link-local'],
    ['ff02::1', 'multicast'],
    ['0.0.0.0', 'unspecified'],
  ];
  it.each(blocked)('refuses a name that resolves to %s (%s)', async (address, cls) => {
    const resolve = stubResolver({ 'api.contoso.test': [[address]] });
    const result = await httpRequestTool.invoke({ url: 'https://api.contoso.test/' }, context(['api.contoso.test'], resolve, false));
    expect(result).toMatchObject(denied(new RegExp(`resolves to ${address.replace(/\./g, '\\.')}, a ${cls} address`)));
  });

  it('refuses when any one of the addresses is blocked, not only the first', async () => {
    const mixed = stubResolver({ 'api.contoso.test': [['8.8.8.8', '10.0.0.5']] });
    expect(await httpRequestTool.invoke({ url: 'https://api.contoso.test/' }, context(['api.contoso.test'], mixed, false))).toMatchObject(denied(/10\.0\.0\.5, a private/));
  });

  it('refuses IP literals in the URL in private ranges even when listed', async () => {
    for (const [url, entry] of [
      ['https://10.0.0.5/', '10.0.0.5'],
      ['https://169.254.169.254/', '169.254.169.254'],
      ['https://[::ffff:169.254.169.254]/', '[::ffff:a9fe:a9fe]'],
    ] as const) {
      expect(await httpRequestTool.invoke({ url }, context([entry], stubResolver({}), true))).toMatchObject(denied(/resolves to/));
    }
  });

  it('in local mode reaches loopback only through a literal loopback entry, never through another name', async () => {
    const resolve = stubResolver({ 'api.contoso.test': [['127.0.0.1']] });
    const result = await httpRequestTool.invoke({ url: `http://api.contoso.test:${port}/` }, context([`api.contoso.test:${port}`], resolve, true));
    expect(result).toMatchObject(denied(/resolves to 127\.0\.0\.1, a loopback address/));
  });

  it('answers host_not_found for a name that does not resolve', async () => {
    const result = await httpRequestTool.invoke({ url: 'https://nowhere.contoso.test/' }, context(['*.contoso.test'], stubResolver({}), false));
    expect(result).toMatchObject({ ok: false, error: { code: 'host_not_found' } });
  });
});

describe('http_request egress: schemes', () => {
  it('refuses plain http outside local development, even to a listed loopback entry', async () => {
    const result = await httpRequestTool.invoke({ url: `http://127.0.0.1:${port}/` }, context(['127.0.0.1', `127.0.0.1:${port}`], stubResolver({}), false));
    expect(result).toMatchObject(denied(/only https URLs are allowed \(plain http only in local development/));
    // And https to loopback outside local is refused by address.
    expect(await httpRequestTool.invoke({ url: 'https://127.0.0.1/' }, context(['127.0.0.1'], stubResolver({}), false))).toMatchObject(denied(/loopback address/));
  });

  it('refuses other schemes and URLs with credentials', async () => {
    expect(await httpRequestTool.invoke({ url: 'ftp://api.contoso.test/' }, context(['api.contoso.test'], stubResolver({}), true))).toMatchObject(denied(/only https/));
    expect(await httpRequestTool.invoke({ url: 'https://u:p@api.contoso.test/' }, context(['api.contoso.test'], stubResolver({}), true))).toMatchObject(denied(/credentials/));
  });
});

describe('http_request egress: the connection goes to the checked address', () => {
  it('resolves once and connects to that address, even when a second lookup would answer differently', async () => {
    // First answer loopback (allowed locally for `localhost`), second a different address: a
    // second lookup (by us or by the connection) would go to 127.0.0.2, where nothing listens.
    const resolve = stubResolver({ localhost: [['127.0.0.1'], ['127.0.0.2']] });
    const before = seen.length;
    const result = await httpRequestTool.invoke({ url: `http://localhost:${port}/pinned?q=1` }, context(['localhost'], resolve, true));
    expect(result).toMatchObject({ ok: true, output: { status: 200, body: 'hello from /pinned?q=1' } });
    expect(resolve.calls).toEqual(['localhost']);
    expect(seen.slice(before)).toMatchObject([{ path: '/pinned?q=1', headers: { host: `localhost:${port}` } }]);
  });

  it('sends the name in Host and never looks it up (api.contoso.test does not exist in DNS)', async () => {
    const before = seen.length;
    const response = await sendPinnedRequest(
      { url: new URL(`http://api.contoso.test:${port}/by-address`), host: 'api.contoso.test', port, address: '127.0.0.1', family: 4 },
      { method: 'POST', body: 'ping', signal: new AbortController().signal, maxBodyBytes: 1024 },
    );
    expect(response).toMatchObject({ status: 200, truncated: false });
    expect(response.body.toString()).toBe('hello from /by-address');
    expect(seen.slice(before)).toMatchObject([{ path: '/by-address', headers: { host: `api.contoso.test:${port}`, 'content-length': '4' } }]);
  });

  it('does not follow redirects', async () => {
    const before = seen.length;
    const result = await httpRequestTool.invoke({ url: `http://127.0.0.1:${port}/redirect` }, context(['127.0.0.1'], stubResolver({}), true));
    expect(result).toMatchObject({ ok: true, output: { status: 302 } });
    expect(seen.slice(before).map((s) => s.path)).toEqual(['/redirect']);
  });

  // A throwaway self-signed certificate made for this test run (no key material in the repository).
  const openssl = spawnSync('openssl', ['version']).status === 0;
  it.skipIf(!openssl)('over TLS sends the name as SNI and checks the certificate against the name, not the address', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'egress-tls-'));
    const made = spawnSync('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=api.contoso.test',
      '-addext',
      'subjectAltName=DNS:api.contoso.test',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ]);
    expect(made.status, made.stderr.toString()).toBe(0);
    const cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
    const key = readFileSync(join(dir, 'key.pem'), 'utf8');
    rmSync(dir, { recursive: true, force: true });
    const tlsSeen: Seen[] = [];
    const tls = createTlsServer({ cert, key });
    const tlsPort = await listen(tls, tlsSeen);
    try {
      const send = (host: string) =>
        sendPinnedRequest(
          { url: new URL(`https://${host}:${tlsPort}/tls`), host, port: tlsPort, address: '127.0.0.1', family: 4 },
          { method: 'GET', signal: new AbortController().signal, maxBodyBytes: 1024, ca: cert },
        );
      expect(await send('api.contoso.test')).toMatchObject({ status: 200 });
      expect(tlsSeen).toMatchObject([{ servername: 'api.contoso.test', headers: { host: `api.contoso.test:${tlsPort}` } }]);
      // Same address, another name: the certificate does not cover it.
      await expect(send('other.contoso.test')).rejects.toMatchObject({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
    } finally {
      await new Promise<void>((r) => tls.close(() => r()));
    }
  });
});

describe('the effective allow-list of a run', () => {
  const tenant = (egressAllowList: string[]) => TenantSchema.parse({ id: 'contoso', status: 'active', egressAllowList });

  it("is the tenant's list limited to the deployment policy (composition root)", async () => {
    // The composition root builds process-wide deps at import: point it at this checkout first.
    const base = { AGENTS_DIR: join(repoRoot, 'agents'), TENANT_CATALOG_FILE: join(repoRoot, 'tenants', 'tenants.local.yaml') };
    Object.assign(process.env, base);
    const { createDeps } = await import('../../shared/composition-root.js');
    const deps = createDeps(parseConfig({ ...base, TOOL_EGRESS_ALLOW_LIST: '*.contoso.test:8443,api.fabrikam.test' }), {
      tenants: new StaticTenantDirectory([tenant(['api.contoso.test:8443', 'api.northwind.test'])]),
      blobs: new MemoryBlobStore(),
    });
    expect(await deps.runtime.egressAllowList('contoso')).toEqual(['api.contoso.test:8443']);
    expect(await deps.runtime.egressAllowList('globex')).toEqual([]);
    expect(deps.runtime.egress.local).toBe(true);
  });

  it('refuses a tenant entry the policy does not allow, and a policy entry the tenant does not list', async () => {
    const list = effectiveEgressAllowList(['api.northwind.test'], ['api.fabrikam.test'], { local: false });
    const resolve = stubResolver({ 'api.northwind.test': [['8.8.8.8']], 'api.fabrikam.test': [['8.8.4.4']] });
    for (const url of ['https://api.northwind.test/', 'https://api.fabrikam.test/']) {
      expect(await httpRequestTool.invoke({ url }, context(list, resolve, false))).toMatchObject(denied(/is not on this run's egress allow-list/));
    }
    expect(resolve.calls).toEqual([]);
  });

  it('stops the app on an invalid deployment entry', () => {
    expect(() => parseConfig({ TOOL_EGRESS_ALLOW_LIST: 'api.contoso.test,https://x.test,a.test:99999' })).toThrow(
      /TOOL_EGRESS_ALLOW_LIST: not host\[:port\] or \*\.suffix\[:port\]: https:\/\/x\.test, a\.test:99999/,
    );
  });
});
