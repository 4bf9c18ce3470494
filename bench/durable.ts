/**
 * `npm run bench:durable`: the durable backend's throughput and latency with file-backed
 * storage, through the devhost as a client uses it (HTTP start, server-side wait for completion).
 * Runs the devhost in-process on the durable fixture app with the default concurrency caps
 * (10 x cores), and prints the issue 3 figures:
 *   (a) one orchestration fanning out 1,000 no-op activities: activities/s   (target >= 3,000)
 *   (b) 100 concurrent orchestrations of 5 sequential activities: work items/s (target >= 1,500)
 *   (c) a 200-step sequential chain: ms                                       (target <= 400)
 *   (d) start-to-completed latency of 1-then-3-parallel activities: p50/p99   (target p50 <= 5 ms)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createDurableExtension, isDurableExtension } from '../devhost/durable/index.js';
import { startDevhost } from '../devhost/host/host.js';

const root = join(import.meta.dirname, '..', '..');
const appDir = join(root, 'tests', 'fixtures', 'durable-app');

function percentile(sorted: readonly number[], p: number): number {
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-durable-'));
  const storage = join(dir, 'devhost.db');
  const host = await startDevhost({
    appDir,
    port: 0,
    storage,
    logLevel: 'error',
    // The fixture's host.json caps concurrency for tests; benchmark the defaults instead.
    extensions: [(services) => createDurableExtension({ ...services, hostJson: { version: '2.0' } })],
  });
  const durable = host.extension(isDurableExtension);
  if (!durable) throw new Error('durable extension missing');
  const stats = durable.engine.stats;
  const base = `${host.url}/runtime/webhooks/durabletask/orchestrators`;
  const code = encodeURIComponent(host.keys.keys.masterKey);

  /** Starts an orchestration and waits for it server-side; resolves with its output. */
  async function run(name: string, input: unknown): Promise<unknown> {
    const res = await fetch(`${base}/${name}?timeout=120&pollingInterval=1&code=${code}`, { method: 'POST', body: JSON.stringify(input) });
    const body = (await res.json()) as unknown;
    if (res.status !== 200) throw new Error(`${name} did not complete: ${res.status} ${JSON.stringify(body)}`);
    return body;
  }

  try {
    // Warm up the JIT on every path.
    await run('fanOut', { count: 200, activity: 'noop' });
    for (let i = 0; i < 20; i++) await run('chain', { steps: 5 });
    for (let i = 0; i < 50; i++) await run('oneThenThree', null);

    // (a) fan-out of 1,000 no-op activities
    const fanOutRuns: number[] = [];
    for (let i = 0; i < 3; i++) {
      const before = stats.activities;
      const t0 = performance.now();
      await run('fanOut', { count: 1000, activity: 'noop' });
      const ms = performance.now() - t0;
      if (stats.activities - before !== 1000) throw new Error('fan-out ran an unexpected number of activities');
      fanOutRuns.push((1000 / ms) * 1000);
    }
    const activitiesPerSecond = Math.max(...fanOutRuns);

    // (b) 100 concurrent orchestrations of 5 sequential activities
    const episodesBefore = stats.episodes;
    const activitiesBefore = stats.activities;
    const t1 = performance.now();
    await Promise.all(Array.from({ length: 100 }, () => run('chain', { steps: 5 })));
    const concurrentMs = performance.now() - t1;
    const episodes = stats.episodes - episodesBefore;
    const activities = stats.activities - activitiesBefore;
    const workItemsPerSecond = ((episodes + activities) / concurrentMs) * 1000;

    // (c) 200-step chain
    const chainRuns: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t2 = performance.now();
      await run('chain', { steps: 200 });
      chainRuns.push(performance.now() - t2);
    }
    const chainMs = Math.min(...chainRuns);

    // (d) start-to-completed latency, one at a time
    const latencies: number[] = [];
    for (let i = 0; i < 300; i++) {
      const t3 = performance.now();
      await run('oneThenThree', null);
      latencies.push(performance.now() - t3);
    }
    latencies.sort((a, b) => a - b);
    const p50 = percentile(latencies, 50);
    const p99 = percentile(latencies, 99);

    console.log('bench:durable (file-backed SQLite, in-process devhost, HTTP client path)');
    console.log(
      `  (a) fan-out of 1,000 no-op activities:        ${activitiesPerSecond.toFixed(0)} activities/s (best of 3: ${fanOutRuns.map((r) => r.toFixed(0)).join(', ')})   target >= 3,000`,
    );
    console.log(
      `  (b) 100 concurrent orchestrations x 5 steps:  ${workItemsPerSecond.toFixed(0)} work items/s (${episodes} orchestrator episodes + ${activities} activities in ${concurrentMs.toFixed(0)} ms)   target >= 1,500`,
    );
    console.log(`  (c) 200-step sequential chain:                ${chainMs.toFixed(0)} ms (best of 3: ${chainRuns.map((r) => r.toFixed(0)).join(', ')})   target <= 400 ms`);
    console.log(`  (d) 1-then-3-parallel latency (300 runs):      p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms   target p50 <= 5 ms`);
    const met = activitiesPerSecond >= 3000 && workItemsPerSecond >= 1500 && chainMs <= 400 && p50 <= 5;
    console.log(`  targets: ${met ? 'met' : 'NOT all met'}`);
  } finally {
    await host.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
