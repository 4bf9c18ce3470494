import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DURABLE_SYSTEM_KEY, FunctionKeyStore } from '../../devhost/host/function-keys.js';
import { withCode } from '../helpers/devhost-keys.js';
import { startDurableHarness, type DurableHarness } from './durable-test-kit.js';

let h: DurableHarness;
beforeAll(async () => {
  h = await startDurableHarness();
});
afterAll(async () => {
  await h?.stop();
});

const uid = (prefix: string): string => `${prefix}-${Math.random().toString(36).slice(2, 10)}`;
const webhooks = (): string => `${h.url}/runtime/webhooks/durabletask`;

/** What the SDK's client reads from its `durableClient` binding. */
function bindingData(): {
  rpcBaseUrl: string;
  requiredQueryStringParameters: string;
  baseUrl: string;
  creationUrls: Record<string, string>;
  managementUrls: Record<string, string>;
} {
  const fn = h.host.functions.get('httpStart');
  if (!fn || !h.durable.bindingData) throw new Error('fixture httpStart or bindingData missing');
  return JSON.parse(h.durable.bindingData({ type: 'durableClient' }, fn) ?? '{}') as ReturnType<typeof bindingData>;
}

/** Every kind of durable API operation an attacker would want, each built fresh. */
function operations(instanceId: string): [string, string, RequestInit][] {
  const json = { 'content-type': 'application/json' };
  return [
    ['list instances', `${webhooks()}/instances/`, {}],
    ['read an instance', `${webhooks()}/instances/${instanceId}`, {}],
    ['start agent-like work', `${webhooks()}/orchestrators/echoInput/${uid('forged')}`, { method: 'POST', headers: json, body: '{"tenantId":"fabrikam"}' }],
    ['raise an event', `${webhooks()}/instances/${instanceId}/raiseEvent/go`, { method: 'POST', headers: json, body: '"approved"' }],
    ['terminate', `${webhooks()}/instances/${instanceId}/terminate?reason=x`, { method: 'POST' }],
    ['purge', `${webhooks()}/instances/${instanceId}`, { method: 'DELETE' }],
    ['purge many', `${webhooks()}/instances/?createdTimeFrom=2000-01-01T00:00:00Z`, { method: 'DELETE' }],
    ['signal an entity', `${webhooks()}/entities/Counter/k?op=add`, { method: 'POST', headers: json, body: '1' }],
  ];
}

describe('the durable HTTP API asks for the Durable system key (or the master key)', () => {
  it('answers 401 without a key, with a wrong one, and with host or function keys, and changes nothing', async () => {
    const id = await h.start('waitThenWork');
    await h.until(id, (b) => b['runtimeStatus'] === 'Running');
    const before = h.durable.listInstances().length;
    const keys = h.host.keys.keys;
    const notEnough: [string, string | undefined][] = [
      ['no key', undefined],
      ['a wrong key', 'not-a-key'],
      ['the host key', keys.hostKeys['default']],
      ['a function key', keys.functionKeys['httpStart']?.['default']],
    ];
    for (const [what, key] of notEnough) {
      for (const [op, url, init] of operations(id)) {
        const res = await fetch(key === undefined ? url : withCode(url, key), init);
        expect(res.status, `${op} with ${what}`).toBe(401);
        expect(await res.text(), `${op} with ${what}`).toBe('');
      }
    }
    // The instance still waits for its event, nothing was started, purged or terminated.
    expect(h.durable.listInstances().length).toBe(before);
    expect((await h.status(id)).body['runtimeStatus']).toBe('Running');
  });

  it('serves the system key and the master key, as ?code= or x-functions-key', async () => {
    const systemKey = h.host.keys.systemKey(DURABLE_SYSTEM_KEY);
    const masterKey = h.host.keys.keys.masterKey;
    expect(h.host.keys.keys.systemKeys[DURABLE_SYSTEM_KEY]).toBe(systemKey);
    expect(systemKey).not.toBe(masterKey);
    for (const key of [systemKey, masterKey]) {
      const start = await fetch(withCode(`${webhooks()}/orchestrators/echoInput`, key), { method: 'POST', body: '{"a":1}' });
      expect(start.status).toBe(202);
      const { id } = (await start.json()) as { id: string };
      await h.finished(id);
      const byHeader = await fetch(`${webhooks()}/instances/${id}`, { headers: { 'x-functions-key': key } });
      expect(byHeader.status).toBe(200);
      expect(((await byHeader.json()) as { output: unknown }).output).toEqual({ a: 1 });
    }
  });
});

describe("the SDK's rpc endpoints", () => {
  it('are keyed too: the binding carries the system key in rpcBaseUrl, links and requiredQueryStringParameters', () => {
    const systemKey = h.host.keys.systemKey(DURABLE_SYSTEM_KEY);
    const data = bindingData();
    expect(data.rpcBaseUrl).toBe(`${h.url}/runtime/webhooks/durabletask/rpc/${systemKey}/`);
    expect(data.requiredQueryStringParameters).toBe(`code=${systemKey}`);
    for (const url of [
      ...Object.values(data.creationUrls),
      ...Object.entries(data.managementUrls)
        .filter(([k]) => k !== 'id')
        .map(([, v]) => v),
    ]) {
      expect(url).toContain(`code=${systemKey}`);
    }
  });

  it('answer 401 with no key or a wrong key in the rpc path, and serve the right one', async () => {
    const id = await h.start('echoInput', 'rpc');
    await h.finished(id);
    const rpc = `${webhooks()}/rpc`;
    for (const path of [
      `${rpc}/instances/${id}`,
      `${rpc}/not-the-key/instances/${id}`,
      `${rpc}//instances/${id}`,
      `${rpc}/${h.host.keys.keys.hostKeys['default']}/instances/${id}`,
    ]) {
      const res = await fetch(path);
      expect(res.status, path).toBe(401);
      await res.arrayBuffer();
    }
    const forged = await fetch(`${rpc}/not-the-key/orchestrators/echoInput/${uid('rpc-forged')}`, { method: 'POST', body: '"x"' });
    expect(forged.status).toBe(401);
    const ok = await fetch(`${bindingData().rpcBaseUrl}instances/${id}`);
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { output: unknown }).output).toBe('rpc');
  });

  it('keep the unmodified durable-functions client working (start, status, events, entities, purge)', async () => {
    const started = await h.client('startNew', 'waitThenWork', { instanceId: uid('sdk') });
    expect(started.ok).toBe(true);
    const id = started.value as string;
    await h.until(id, (b) => b['runtimeStatus'] === 'Running');
    expect(await h.client('raiseEvent', id, 'go', { via: 'sdk' })).toEqual({ ok: true, value: null });
    await h.finished(id);
    expect((await h.client('getStatus', id)).value).toMatchObject({ runtimeStatus: 'Completed', output: { via: 'sdk' } });
    const all = (await h.client('getStatusAll')).value as { instanceId: string }[];
    expect(all.map((s) => s.instanceId)).toContain(id);
    const key = uid('entity');
    expect((await h.client('signalEntity', 'Counter', key, 'add', 2)).ok).toBe(true);
    await h.durable.waitForIdle();
    expect((await h.client('readEntityState', 'Counter', key)).value).toEqual({ entityExists: true, entityState: 2 });
    expect((await h.client('purgeInstanceHistory', id)).value).toEqual({ instancesDeleted: 1 });
  });

  it("keep the app's doors working: createCheckStatusResponse links carry the key and are followed as given", async () => {
    const res = await fetch(`${h.url}/api/orchestrators/echoInput`, { method: 'POST', body: '"door"' });
    expect(res.status).toBe(202);
    const links = (await res.json()) as { id: string; statusQueryGetUri: string };
    expect(new URL(links.statusQueryGetUri).searchParams.get('code')).toBe(h.systemKey);
    await h.finished(links.id);
    const status = await fetch(links.statusQueryGetUri);
    expect(status.status).toBe(200);
    expect(((await status.json()) as { output: unknown }).output).toBe('door');
  });
});

describe('the key file', () => {
  it('gains the Durable system key when an older devhost wrote it, keeping the other keys', () => {
    const dir = mkdtempSync(join(tmpdir(), 'keys-'));
    try {
      const file = join(dir, 'keys.json');
      writeFileSync(file, JSON.stringify({ masterKey: 'old-master', hostKeys: { default: 'old-host' }, functionKeys: {} }));
      const store = new FunctionKeyStore(file, []);
      const written = JSON.parse(readFileSync(file, 'utf8')) as { masterKey: string; systemKeys: Record<string, string> };
      expect(written.masterKey).toBe('old-master');
      expect(written.systemKeys[DURABLE_SYSTEM_KEY]).toMatch(/^[\w-]{40,}$/);
      expect(store.systemKey(DURABLE_SYSTEM_KEY)).toBe(written.systemKeys[DURABLE_SYSTEM_KEY]);
      expect(new FunctionKeyStore(file, []).systemKey(DURABLE_SYSTEM_KEY)).toBe(written.systemKeys[DURABLE_SYSTEM_KEY]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
