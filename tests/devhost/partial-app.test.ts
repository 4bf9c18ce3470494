import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AppLoadError } from '../../devhost/host/app-loader.js';
import { startDevhost, type Devhost } from '../../devhost/host/host.js';
import type { RegisteredFunction } from '../../devhost/host/core-types.js';
import type { HostExtension, HostServices } from '../../devhost/host/extension-types.js';
import type { DevhostLogger } from '../../devhost/host/logger.js';
import { spawnDevhost } from '../helpers/spawn-devhost.js';
import { appWithLibrary, LIBRARY_VERSIONS } from '../conformance/conformance-kit.js';

/**
 * Issue 13 item 1: a function the devhost cannot serve is disabled with the reason and the rest of
 * the app runs, as the Functions host does with a function in error (WebJobs indexing with partial
 * host start-up). `AzureWebJobs.<name>.Disabled` switches a function off. The devhost refuses to
 * start only when nothing can run, or with `strict` / `--strict`.
 */

const fixtures = join(import.meta.dirname, '..', 'fixtures');
const partialApp = join(fixtures, 'partial-app');

function recordingLogger(): DevhostLogger & { lines: string[] } {
  const lines: string[] = [];
  const log = (level: string) => (message: string) => void lines.push(`${level}: ${message}`);
  return { lines, debug: () => undefined, info: log('info'), warn: log('warn'), error: log('error') };
}

const started: Devhost[] = [];
const envSet: string[] = [];
afterEach(async () => {
  for (const host of started.splice(0)) await host.stop();
  for (const name of envSet.splice(0)) delete process.env[name];
});

async function start(options: { strict?: boolean; env?: Record<string, string> } = {}): Promise<Devhost & { lines: string[] }> {
  for (const [name, value] of Object.entries(options.env ?? {})) {
    process.env[name] = value;
    envSet.push(name);
  }
  const logger = recordingLogger();
  const host = await startDevhost({ appDir: partialApp, port: 0, storage: 'memory', logger, ...(options.strict ? { strict: true } : {}) });
  started.push(host);
  return Object.assign(host, { lines: logger.lines });
}

describe('an app with functions the devhost cannot serve', () => {
  it('starts, lists each disabled function with its reason, and serves the rest', async () => {
    const host = await start();
    expect([...host.functions.keys()].sort()).toEqual(['hello', 'switchable']);
    const disabled = Object.fromEntries(host.app.disabled.map((d) => [d.name, d]));
    expect(Object.keys(disabled).sort()).toEqual(['onCosmosChange', 'onQueueWithoutSetting', 'onTopic', 'sendSms']);
    expect(disabled['onCosmosChange']?.reasons.join()).toMatch(/binding "\w+" has type "cosmosDBTrigger", which the devhost does not support/);
    expect(disabled['sendSms']?.reasons.join()).toMatch(/type "twilioSms", which the devhost does not support/);
    expect(disabled['onTopic']?.reasons.join()).toContain('topic triggers are not supported');
    expect(disabled['onQueueWithoutSetting']?.reasons.join()).toContain("Storage account connection string 'NoSuchStorage' does not exist");

    const listing = host.lines.find((l) => l.startsWith('info: Functions:')) ?? '';
    expect(listing).toMatch(/hello: \[GET\] http:\/\/127\.0\.0\.1:\d+\/api\/hello/);
    expect(listing).toMatch(/onCosmosChange: cosmosDBTrigger \[Disabled: in error\] .*cosmosDBTrigger/);
    expect(listing).toMatch(/sendSms: httpTrigger \[Disabled: in error\] .*twilioSms/);
    expect(host.lines.filter((l) => l.startsWith('warn:') && l.includes('function is in error and is disabled'))).toHaveLength(4);

    const res = await fetch(`${host.url}/api/hello`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ hello: 'world' });
    // A disabled HTTP function has no route.
    expect((await fetch(`${host.url}/api/sendSms`, { method: 'POST' })).status).toBe(404);

    const status = (await (await fetch(`${host.url}/admin/host/status`, { headers: { 'x-functions-key': host.keys.keys.masterKey } })).json()) as { errors?: string[] };
    expect(status.errors).toHaveLength(4);
    expect(status.errors?.[0]).toMatch(/^The '\w+' function is in error: /);
  });

  it('switches a function off with AzureWebJobs.<name>.Disabled, listed as disabled', async () => {
    const host = await start({ env: { 'AzureWebJobs.switchable.Disabled': 'True' } });
    expect(host.functions.has('switchable')).toBe(false);
    expect(host.app.disabled.find((d) => d.name === 'switchable')).toMatchObject({ cause: 'setting' });
    expect(host.lines.find((l) => l.startsWith('info: Functions:'))).toMatch(/switchable: httpTrigger \[Disabled\] disabled by the setting AzureWebJobs\.switchable\.Disabled/);
    expect((await fetch(`${host.url}/api/switchable`)).status).toBe(404);
    const list = (await (await fetch(`${host.url}/admin/functions`, { headers: { 'x-functions-key': host.keys.keys.masterKey } })).json()) as {
      name: string;
      isDisabled: boolean;
    }[];
    expect(list.find((f) => f.name === 'switchable')).toMatchObject({ isDisabled: true });
    expect(list.find((f) => f.name === 'hello')).toMatchObject({ isDisabled: false });
    // Functions in error are not in the function list (the host's own list omits them too).
    expect(list.some((f) => f.name === 'onCosmosChange')).toBe(false);
  });

  it('reads AzureWebJobs.<name>.Disabled from local.settings.json too', async () => {
    const dir = appWithLibrary(partialApp, LIBRARY_VERSIONS.find((l) => l.label === 'current') ?? LIBRARY_VERSIONS[0]!);
    writeFileSync(join(dir, 'local.settings.json'), JSON.stringify({ IsEncrypted: false, Values: { 'AzureWebJobs.switchable.Disabled': '1' } }));
    envSet.push('AzureWebJobs.switchable.Disabled'); // local settings are copied into the environment, as func start does
    try {
      const host = await startDevhost({ appDir: dir, port: 0, storage: 'memory', logger: recordingLogger() });
      started.push(host);
      expect(host.app.disabled.find((d) => d.name === 'switchable')).toMatchObject({ cause: 'setting' });
      expect((await fetch(`${host.url}/api/switchable`)).status).toBe(404);
      expect((await fetch(`${host.url}/api/hello`)).status).toBe(200);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads the Linux spelling AzureWebJobs_<name>_Disabled and the value 1; other values leave it on', async () => {
    const off = await start({ env: { AzureWebJobs_switchable_Disabled: '1' } });
    expect(off.functions.has('switchable')).toBe(false);
    await off.stop();
    delete process.env['AzureWebJobs_switchable_Disabled'];
    const on = await start({ env: { 'AzureWebJobs.switchable.Disabled': 'no' } });
    expect(on.functions.has('switchable')).toBe(true);
    expect((await fetch(`${on.url}/api/switchable`)).status).toBe(200);
  });

  it('disables what an extension refuses, and refuses to invoke it even for an extension that indexed it first', async () => {
    let refused: unknown;
    const probe = (services: HostServices): HostExtension => {
      const indexedEarly = services.functions.get('switchable') as RegisteredFunction;
      return {
        triggerTypes: [],
        bindingTypes: ['http'],
        checkFunction: (fn) => (fn.name === 'switchable' ? [`function "${fn.name}": refused by the probe`] : []),
        async start() {
          refused = await services.invoke(indexedEarly, {}).catch((e: unknown) => e);
        },
        async stop() {},
      };
    };
    const logger = recordingLogger();
    const host = await startDevhost({ appDir: partialApp, port: 0, storage: 'memory', logger, extensions: [probe] });
    started.push(host);
    expect(host.app.disabled.find((d) => d.name === 'switchable')?.reasons).toEqual(['function "switchable": refused by the probe']);
    // Without the built-in extensions, triggers nobody drives are disabled too.
    expect(host.app.disabled.find((d) => d.name === 'onTopic')?.reasons.join()).toContain('no devhost extension serves its trigger type "serviceBusTrigger"');
    expect(String(refused)).toContain('The function \'switchable\' is disabled: function "switchable": refused by the probe');
    expect((await fetch(`${host.url}/api/hello`)).status).toBe(200);
  });

  it('refuses to start with strict, naming every function in error', async () => {
    const error = await start({ strict: true }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppLoadError);
    const message = (error as Error).message;
    for (const name of ['onCosmosChange', 'sendSms', 'onTopic']) expect(message).toContain(name);
    expect(message).not.toContain('"hello"');
  });

  it('refuses to start when no function can run', async () => {
    const error = await startDevhost({ appDir: join(fixtures, 'bad-binding-app'), port: 0, storage: 'memory', logLevel: 'error' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppLoadError);
    expect((error as Error).message).toContain('no function can run');
    expect((error as Error).message).toMatch(/function "onCosmosChange".*cosmosDBTrigger.*does not support/);
  });
});

describe('the CLI on a partial app (npm run build first)', () => {
  it('starts and warns about each disabled function', async () => {
    const host = await spawnDevhost(['--app', partialApp, '--storage', 'memory']);
    try {
      expect(host.output()).toMatch(/onCosmosChange: cosmosDBTrigger \[Disabled: in error\]/);
      expect((await fetch(`${host.url}/api/hello`)).status).toBe(200);
    } finally {
      expect(await host.stop()).toBe(0);
    }
  });

  it('--strict exits non-zero naming every bad function', async () => {
    const error = await spawnDevhost(['--app', partialApp, '--storage', 'memory', '--strict']).catch((e: unknown) => e);
    expect(String(error)).toContain('exited with 1');
    for (const name of ['onCosmosChange', 'sendSms', 'onTopic']) expect(String(error)).toContain(name);
    expect(String(error)).not.toContain('"hello"');
  });
});
