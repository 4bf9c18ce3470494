/**
 * `npm run bench:http`: load `GET /api/health` through the devhost (a separate process, as a
 * user runs it) at concurrency 20 and print requests/s and latency percentiles.
 * Target (issue 2): >= 2,000 requests/s and p99 < 10 ms on a 2-core machine.
 */
import autocannon from 'autocannon';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnDevhost } from '../devhost/cli/spawn-devhost.js';

const root = join(import.meta.dirname, '..', '..');
const durationSeconds = Number(process.env['BENCH_DURATION_S'] ?? '10');
const connections = Number(process.env['BENCH_CONNECTIONS'] ?? '20');

/** CPU time (user + system) a process has used, in ms; Linux only (`undefined` elsewhere). */
function processCpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime, in clock ticks (100/s)
    return Number.isFinite(ticks) ? ticks * 10 : undefined;
  } catch {
    return undefined;
  }
}

async function load(url: string, pid: number | undefined): Promise<{ result: autocannon.Result; cpuUsPerRequest: number | undefined }> {
  // Warm up the JIT and connection pool before measuring.
  await autocannon({ url, connections, duration: 2 });
  const cpuBefore = processCpuMs(pid);
  const result = await autocannon({ url, connections, duration: durationSeconds });
  const cpuAfter = processCpuMs(pid);
  const cpuUsPerRequest = cpuBefore === undefined || cpuAfter === undefined || result.requests.total === 0 ? undefined : ((cpuAfter - cpuBefore) * 1000) / result.requests.total;
  return { result, cpuUsPerRequest };
}

async function main(): Promise<void> {
  const host = await spawnDevhost(['--app', root, '--storage', 'memory', '--log-level', 'warn']);
  const url = host.url;
  try {
    const { result, cpuUsPerRequest } = await load(`${url}/api/health`, host.child.pid);
    const errors = result.errors + result.timeouts + result.non2xx;
    const cpu = (us: number | undefined): string => (us === undefined ? 'n/a' : `${us.toFixed(0)} µs`);
    console.log(`bench:http GET /api/health, ${connections} connections, ${durationSeconds}s`);
    console.log(`  requests:     ${result.requests.total} (${errors} errors/non-2xx)`);
    console.log(`  requests/s:   ${result.requests.average.toFixed(0)}`);
    console.log(`  latency p50:  ${result.latency.p50} ms`);
    console.log(`  latency p99:  ${result.latency.p99} ms`);
    console.log(`  latency max:  ${result.latency.max} ms`);
    console.log(`  devhost CPU per request: ${cpu(cpuUsPerRequest)}`);
    const ok = result.requests.average >= 2000 && result.latency.p99 < 10 && errors === 0;
    console.log(`  target (>= 2000 req/s, p99 < 10 ms, no errors): ${ok ? 'met' : 'NOT met'}`);
    // The same load on a path no function owns: the devhost's own HTTP handling (parse, route,
    // answer 404) without the @azure/functions invocation, to show which side the time is on.
    const baseline = await load(`${url}/api/no-such-function`, host.child.pid);
    console.log(`  for comparison, an unrouted path (host only, no function invocation):`);
    console.log(
      `    requests/s ${baseline.result.requests.average.toFixed(0)}, p50 ${baseline.result.latency.p50} ms, ` +
        `p99 ${baseline.result.latency.p99} ms, devhost CPU per request ${cpu(baseline.cpuUsPerRequest)}`,
    );
  } finally {
    await host.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
