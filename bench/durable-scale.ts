/**
 * `npm run bench:durable-scale`: whether the cost of one run grows with the number of instances
 * the store already holds (issue 19). Runs the devhost in-process on the durable fixture app with
 * a file-backed store and the default concurrency caps, and drives each run through the durable
 * client paths an app's doors use, via the SDK in an HTTP function (`/api/client`):
 * `startNew('waitThenWork')`, `raiseEvent(id, 'go')`, a server-side wait for completion (the
 * engine's completion signal, not a listing), then `getStatus(id)`. `waitThenWork` runs one
 * activity after the event.
 *
 * It measures `BENCH_SCALE_N` runs (default 300, concurrency `BENCH_SCALE_CONCURRENCY`, default
 * 20) on an empty store, then fills the store and measures N more at each multiple of N already
 * completed in `BENCH_SCALE_SIZES` (default `5`, so N runs after 5N), and prints the per-run cost
 * at each size and the ratio of the largest to the smallest. Profile it with
 * `node --cpu-prof dist-dev/bench/durable-scale.js`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createDurableExtension, isDurableExtension } from '../devhost/durable/index.js';
import { startDevhost } from '../devhost/host/host.js';

const root = join(import.meta.dirname, '..', '..');
const appDir = join(root, 'tests', 'fixtures', 'durable-app');
const N = Number(process.env['BENCH_SCALE_N'] ?? '300');
const CONCURRENCY = Number(process.env['BENCH_SCALE_CONCURRENCY'] ?? '20');
const SIZES = (process.env['BENCH_SCALE_SIZES'] ?? '5')
  .split(',')
  .map((s) => Number(s.trim()))
  .filter((n) => Number.isFinite(n) && n > 0)
  .sort((a, b) => a - b);

interface ClientAnswer {
  ok: boolean;
  value?: unknown;
  error?: string;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-durable-scale-'));
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
  const engine = durable.engine;
  const clientUrl = `${host.url}/api/client`;

  async function client(op: string, ...args: unknown[]): Promise<unknown> {
    const res = await fetch(clientUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ op, args }) });
    const body = (await res.json()) as ClientAnswer;
    if (!body.ok) throw new Error(`${op} failed: ${body.error ?? res.status}`);
    return body.value;
  }

  let sequence = 0;
  /** One run through the client paths a door uses; resolves when it is Completed. */
  async function run(): Promise<void> {
    const n = sequence++;
    const id = (await client('startNew', 'waitThenWork', { input: null })) as string;
    await client('raiseEvent', id, 'go', { n });
    const done = await engine.waitForTerminal(id, 60_000);
    if (done?.status !== 'Completed') throw new Error(`run ${id} did not complete: ${done?.status ?? 'timed out'}`);
    const status = (await client('getStatus', id)) as { runtimeStatus?: string; output?: unknown };
    if (status.runtimeStatus !== 'Completed' || (status.output as { n?: number } | null)?.n !== n) throw new Error(`getStatus of ${id}: ${JSON.stringify(status)}`);
  }

  /** `count` runs at `CONCURRENCY`; resolves with the wall time in ms. */
  async function runMany(count: number): Promise<number> {
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: Math.min(CONCURRENCY, count) }, async () => {
        while (next < count) {
          next++;
          await run();
        }
      }),
    );
    return performance.now() - t0;
  }

  function storedInstances(): number {
    return engine.query({}).length;
  }

  try {
    await runMany(Math.max(200, N)); // JIT warm-up; the store is emptied again below
    engine.purgeWhere({ createdFrom: 0 });

    const rows: { before: number; ms: number; perRun: number; rssMb: number; heapMb: number }[] = [];
    const measure = async (): Promise<void> => {
      const before = storedInstances();
      const ms = await runMany(N);
      // With --expose-gc the heap figure is what stays reachable, not what GC has yet to collect.
      (globalThis as { gc?: () => void }).gc?.();
      const memory = process.memoryUsage();
      rows.push({ before, ms, perRun: ms / N, rssMb: memory.rss / 2 ** 20, heapMb: memory.heapUsed / 2 ** 20 });
    };
    await measure();
    for (const multiple of SIZES) {
      const fill = multiple * N - storedInstances();
      if (fill > 0) await runMany(fill);
      await measure();
    }

    console.log(
      `bench:durable-scale (file-backed SQLite, in-process devhost; per run: SDK startNew + raiseEvent + completion + getStatus, 1 activity; concurrency ${CONCURRENCY})`,
    );
    for (const row of rows) {
      console.log(
        `  ${String(N).padStart(5)} runs after ${String(row.before).padStart(6)} completed: ${row.ms.toFixed(0).padStart(6)} ms, ${row.perRun.toFixed(3)} ms/run (${(1000 / row.perRun).toFixed(0)} runs/s), rss ${row.rssMb.toFixed(0)} MB, heap ${row.heapMb.toFixed(0)} MB`,
      );
    }
    const costs = rows.map((r) => r.perRun);
    const ratio = Math.max(...costs) / Math.min(...costs);
    console.log(`  ratio largest/smallest per-run cost: ${ratio.toFixed(2)}`);
  } finally {
    await host.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
