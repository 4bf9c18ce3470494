import { describe, expect, it } from 'vitest';
import { spawnDevhost } from '../helpers/spawn-devhost.js';
import { appWithLibrary, hostFixture, LIBRARY_VERSIONS } from './conformance-kit.js';
import { rmSync } from 'node:fs';
import { join } from 'node:path';

/** The same app the devhost's own partial-app tests use. */
const partialApp = join(import.meta.dirname, '..', 'fixtures', 'partial-app');

/**
 * Issue 13 item 1 across library versions: whatever `@azure/functions` an app ships, a function
 * the devhost cannot serve (a Cosmos DB trigger, a Twilio output, a Service Bus topic) is disabled
 * with its reason and the rest run; `AzureWebJobs.<name>.Disabled` switches one off; `--strict`
 * refuses to start, naming every function in error. Needs `npm run build`.
 */
describe('conformance: an app with functions the devhost cannot serve', () => {
  for (const library of LIBRARY_VERSIONS) {
    it(`@azure/functions ${library.label}: disables those, serves the rest`, async () => {
      const host = await hostFixture(partialApp, library, [], { 'AzureWebJobs.switchable.Disabled': 'true' });
      try {
        const res = await fetch(`${host.url}/api/hello`);
        expect(res.status).toBe(200);
        expect(await res.json()).toEqual({ hello: 'world' });
        expect((await fetch(`${host.url}/api/switchable`)).status).toBe(404);
        const output = host.output();
        expect(output).toMatch(/onCosmosChange: cosmosDBTrigger \[Disabled: in error\] .*"cosmosDBTrigger", which the devhost does not support/);
        expect(output).toMatch(/sendSms: httpTrigger \[Disabled: in error\] .*"twilioSms"/);
        expect(output).toMatch(/onTopic: serviceBusTrigger \[Disabled: in error\] .*topic triggers are not supported/);
        expect(output).toMatch(/switchable: httpTrigger \[Disabled\] disabled by the setting AzureWebJobs\.switchable\.Disabled/);
      } finally {
        expect(await host.close()).toBe(0);
      }
    });

    it(`@azure/functions ${library.label}: --strict refuses, naming every function in error`, async () => {
      const dir = appWithLibrary(partialApp, library);
      try {
        const error = await spawnDevhost(['--app', dir, '--storage', 'memory', '--strict']).catch((e: unknown) => e);
        expect(String(error)).toContain('exited with 1');
        for (const name of ['onCosmosChange', 'sendSms', 'onTopic']) expect(String(error)).toContain(name);
        expect(String(error)).not.toContain('switchable');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
