/**
 * `npm run bench:frontdoor`: the front door stays fast however slow inference is.
 *
 * The devhost runs the app as a separate process with activity concurrency capped at 4
 * (`AzureFunctionsJobHost__extensions__durableTask__maxConcurrentActivityFunctions`, the
 * Functions host's own override). 2,000 signed webhook requests go in at concurrency 50, first
 * while the offline model adds 500 ms per call, then with 0 ms. For each phase it prints
 * front-door p50/p99, runs accepted, completed, lost (accepted but never seen as an instance,
 * or failed), and the highest model concurrency the offline model saw.
 * Target (issue 5): p99(slow) <= 1.5 x p99(fast), zero lost, model concurrency <= 4.
 */
import autocannon from 'autocannon';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAzurite } from '../devhost/local-services/azurite.js';
import { spawnDevhost } from '../devhost/cli/spawn-devhost.js';
import { startOfflineModel } from '../devhost/local-services/offline-model/server.js';

const ROOT = join(import.meta.dirname, '..', '..');
const FIXTURES = join(ROOT, 'bench', 'fixtures');
const REQUESTS = Number(process.env['BENCH_REQUESTS'] ?? '2000');
const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? '50');
const ACTIVITY_CAP = 4;
const DRAIN_TIMEOUT_MS = Number(process.env['BENCH_DRAIN_TIMEOUT_MS'] ?? '900000');

interface PhaseResult {
  label: string;
  p50: number;
  p99: number;
  accepted: number;
  errors: number;
  completed: number;
  lost: number;
  drainMs: number;
  maxModelConcurrency: number;
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'bench-frontdoor-'));
  const secret = randomBytes(32).toString('hex');
  const secretsFile = join(work, 'secrets.json');
  writeFileSync(secretsFile, JSON.stringify({ secrets: { 'bench-events-webhook': secret } }));
  const azurite = await startAzurite();
  const model = await startOfflineModel();
  const storage = join(work, 'devhost.db');
  const host = await spawnDevhost(['--app', ROOT, '--storage', storage, '--log-level', 'warn'], {
    STORAGE_CONNECTION_STRING: azurite.connectionString,
    MODEL_BASE_URL: model.url,
    TENANT_CATALOG_FILE: join(FIXTURES, 'tenants.bench.yaml'),
    AGENTS_DIR: join(FIXTURES, 'agents'),
    LOCAL_SECRETS_FILE: secretsFile,
    RUN_EVENTS_FILE: '',
    TELEMETRY_FILE: '',
    AzureFunctionsJobHost__extensions__durableTask__maxConcurrentActivityFunctions: String(ACTIVITY_CAP),
  });
  const url = host.url;
  const masterKey = (JSON.parse(readFileSync(join(work, 'keys.json'), 'utf8')) as { masterKey: string }).masterKey;

  /**
   * The instances created since `since` (epoch ms), without their inputs: a poll reads this
   * phase's instances only, not every instance of the earlier phases (which would make the drain
   * look slower the more the store holds, on the devhost's own event loop).
   */
  async function instances(since: number): Promise<{ instanceId: string; runtimeStatus: string }[]> {
    const from = encodeURIComponent(new Date(since).toISOString());
    const res = await fetch(`${url}/admin/durable/instances?createdTimeFrom=${from}&showInput=false`, { headers: { 'x-functions-key': masterKey } });
    return (await res.json()) as { instanceId: string; runtimeStatus: string }[];
  }

  async function phase(label: string, latencyMs: number): Promise<PhaseResult> {
    model.reset();
    if (latencyMs > 0) model.setFaults([{ latencyMs }]);
    // A second of slack for clock granularity; earlier phases' instances are filtered out below anyway.
    const phaseStart = Date.now() - 1000;
    const acceptedIds = new Set<string>();
    let sent = 0;
    const result = await autocannon({
      url: `${url}/api/webhooks/benchco/events`,
      connections: CONNECTIONS,
      amount: REQUESTS,
      method: 'POST',
      requests: [
        {
          setupRequest: (request) => {
            sent += 1;
            const body = JSON.stringify({ text: `${label} event ${sent}` });
            const timestamp = Math.floor(Date.now() / 1000).toString();
            const deliveryId = `${label}-${sent}-${randomBytes(4).toString('hex')}`;
            // Standard Webhooks: HMAC-SHA256 over "id.timestamp.body", base64.
            const signature = createHmac('sha256', secret).update(`${deliveryId}.${timestamp}.${body}`).digest('base64');
            return {
              ...request,
              body,
              headers: {
                'content-type': 'application/json',
                'webhook-id': deliveryId,
                'webhook-timestamp': timestamp,
                'webhook-signature': `v1,${signature}`,
              },
            };
          },
          onResponse: (status, body) => {
            if (status === 202) acceptedIds.add((JSON.parse(body) as { id: string }).id);
          },
        },
      ],
    });
    const started = Date.now();
    let completed = 0;
    let failed = 0;
    let seen = 0;
    for (;;) {
      const list = (await instances(phaseStart)).filter((i) => acceptedIds.has(i.instanceId));
      seen = list.length;
      completed = list.filter((i) => i.runtimeStatus === 'Completed').length;
      failed = list.filter((i) => i.runtimeStatus === 'Failed' || i.runtimeStatus === 'Terminated').length;
      if (completed + failed >= acceptedIds.size || Date.now() - started > DRAIN_TIMEOUT_MS) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    return {
      label,
      p50: result.latency.p50,
      p99: result.latency.p99,
      accepted: acceptedIds.size,
      errors: result.non2xx + result.errors + result.timeouts,
      completed,
      lost: acceptedIds.size - seen + failed,
      drainMs: Date.now() - started,
      maxModelConcurrency: model.stats().maxInFlight,
    };
  }

  try {
    // Warm-up: JIT, Azurite container, connection pools.
    await phase('warmup', 0);
    const slow = await phase('slow', 500);
    const fast = await phase('fast', 0);
    console.log(`bench:frontdoor ${REQUESTS} signed webhooks per phase, ${CONNECTIONS} connections, activity cap ${ACTIVITY_CAP}`);
    for (const r of [slow, fast]) {
      console.log(
        `  ${r.label === 'slow' ? 'model +500 ms' : 'model +0 ms  '}: front door p50 ${r.p50} ms, p99 ${r.p99} ms; accepted ${r.accepted}, non-202 ${r.errors}; ` +
          `completed ${r.completed}, lost ${r.lost} (drained in ${(r.drainMs / 1000).toFixed(1)} s); max model concurrency ${r.maxModelConcurrency}`,
      );
    }
    const ratio = fast.p99 > 0 ? slow.p99 / fast.p99 : Number.POSITIVE_INFINITY;
    const ok = ratio <= 1.5 && slow.lost === 0 && fast.lost === 0 && Math.max(slow.maxModelConcurrency, fast.maxModelConcurrency) <= ACTIVITY_CAP;
    console.log(`  p99 ratio slow/fast: ${ratio.toFixed(2)} (target <= 1.5); target ${ok ? 'met' : 'NOT met'}`);
  } finally {
    await host.stop();
    await model.stop();
    await azurite.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
