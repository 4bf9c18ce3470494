/**
 * `npm run bench:http`: load `GET /api/health` through the devhost (a separate process, as a
 * user runs it) at concurrency 20 and print requests/s and latency percentiles.
 * Target (issue 2): >= 2,000 requests/s and p99 < 10 ms on a 2-core machine.
 */
import autocannon from 'autocannon';
import { spawn } from 'node:child_process';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');
const durationSeconds = Number(process.env['BENCH_DURATION_S'] ?? '10');
const connections = Number(process.env['BENCH_CONNECTIONS'] ?? '20');

async function main(): Promise<void> {
  const child = spawn(
    process.execPath,
    ['--disable-warning=ExperimentalWarning', join(root, 'dist', 'devhost', 'cli.js'), '--app', root, '--port', '0', '--storage', 'memory', '--log-level', 'warn'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /devhost listening on (\S+)/.exec(out);
      if (m?.[1]) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`devhost exited with ${code}`)));
  });
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
    child.kill('SIGTERM');
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
