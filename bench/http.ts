/**
 * `npm run bench:http`: load `GET /api/health` through the devhost (a separate process, as a
 * user runs it) at concurrency 20 and print requests/s and latency percentiles.
 * Target (issue 2): >= 2,000 requests/s and p99 < 10 ms on a 2-core machine.
 */
import autocannon from 'autocannon';
import { join } from 'node:path';
import { spawnDevhost } from '../devhost/spawn-devhost.js';

const root = join(import.meta.dirname, '..', '..');
const durationSeconds = Number(process.env['BENCH_DURATION_S'] ?? '10');
const connections = Number(process.env['BENCH_CONNECTIONS'] ?? '20');

async function main(): Promise<void> {
  const host = await spawnDevhost(['--app', root, '--storage', 'memory', '--log-level', 'warn']);
  const url = host.url;
  try {
    const target = `${url}/api/health`;
    // Warm up the JIT and connection pool before measuring.
    await autocannon({ url: target, connections, duration: 2 });
    const result = await autocannon({ url: target, connections, duration: durationSeconds });
    const errors = result.errors + result.timeouts + result.non2xx;
    console.log(`bench:http GET /api/health, ${connections} connections, ${durationSeconds}s`);
    console.log(`  requests:     ${result.requests.total} (${errors} errors/non-2xx)`);
    console.log(`  requests/s:   ${result.requests.average.toFixed(0)}`);
    console.log(`  latency p50:  ${result.latency.p50} ms`);
    console.log(`  latency p99:  ${result.latency.p99} ms`);
    console.log(`  latency max:  ${result.latency.max} ms`);
    const ok = result.requests.average >= 2000 && result.latency.p99 < 10 && errors === 0;
    console.log(`  target (>= 2000 req/s, p99 < 10 ms, no errors): ${ok ? 'met' : 'NOT met'}`);
  } finally {
    await host.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
