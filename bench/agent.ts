/**
 * `npm run bench:agent`: orchestration overhead of an agent turn.
 *
 * The same scripted 10-turn run (3 tool calls per turn, then a final answer; the offline model
 * at zero latency) is executed twice: (a) through the devhost's Durable backend as the app runs
 * it, and (b) by calling the same activities directly, in order, in one process. Overhead per
 * turn = (a - b) / turns. Target (issue 4): <= 5 ms per turn.
 *
 * The agent runs with the default limits (continue-as-new every 2 turns); set
 * BENCH_CONTINUE_AS_NEW_EVERY=N to compare generation lengths (e.g. 100: one long generation).
 *
 * Telemetry is off unless BENCH_TELEMETRY=otlp: then the app exports traces, metrics and logs
 * (OTLP/JSON, 100 ms batches) to a loopback receiver this bench starts, and the run-event bus keeps
 * its telemetry subscriber; compare the overhead per turn with and without it.
 */
import { startAzurite } from '../devhost/local-services/azurite.js';
import { isDurableExtension } from '../devhost/durable/index.js';
import { startDevhost } from '../devhost/host/host.js';
import { startOfflineModel, type OfflineTurn } from '../devhost/local-services/offline-model/server.js';
import { AgentDefinitionSchema, snapshotOf } from '../shared/agents/agent-definition.js';
import type * as AgentActivities from '../shared/agent-runtime/agent-activities.js';
import type { AgentRunInput, ToolOutcome } from '../shared/agent-runtime/run-types.js';
import type * as CompositionRoot from '../shared/composition-root.js';
import type * as MemoryBlobStoreModule from '../shared/storage/memory-blob-store.js';
import type * as RunEventsModule from '../shared/agent-runtime/run-events.js';
import type * as RunTelemetrySinkModule from '../shared/telemetry/run-telemetry-sink.js';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const ROOT = join(import.meta.dirname, '..', '..');

/**
 * A module of the app as the devhost loaded it (`dist/`, through package.json "main"). This file
 * runs from `dist-dev/bench/`, where `../shared` is the dev build's own compiled copy: a second
 * module instance. Both paths must share the app's runtime object (the blob store swap below), so
 * everything stateful comes from the app's instance.
 */
async function appModule<T>(path: string): Promise<T> {
  return (await import(pathToFileURL(join(ROOT, 'dist', path)).href)) as T;
}
const TOOL_TURNS = 10;
const TOOLS_PER_TURN = 3;
const RUNS = Number(process.env['BENCH_RUNS'] ?? '21');
const WARMUP = Number(process.env['BENCH_WARMUP'] ?? '3');

function script(): OfflineTurn[] {
  const turns: OfflineTurn[] = [];
  for (let t = 0; t < TOOL_TURNS; t++) {
    turns.push({
      type: 'tool_calls',
      toolCalls: Array.from({ length: TOOLS_PER_TURN }, (_v, i) => ({ id: `t${t}c${i}`, name: 'current_time', arguments: {} })),
      usage: { promptTokens: 100, completionTokens: 20 },
    });
  }
  turns.push({ type: 'text', content: 'done', usage: { promptTokens: 100, completionTokens: 5 } });
  return turns;
}

const agent = snapshotOf(
  AgentDefinitionSchema.parse({
    id: 'bench-agent',
    version: 1,
    description: 'bench',
    systemPrompt: 'You are a benchmark.',
    model: { deployments: ['bench'], timeoutMs: 10_000 },
    tools: [{ tool: 'current_time' }],
    // Default limits (continue-as-new every 2 turns) unless BENCH_CONTINUE_AS_NEW_EVERY says otherwise.
    limits: { maxTurns: TOOL_TURNS + 1, ...(process.env['BENCH_CONTINUE_AS_NEW_EVERY'] ? { continueAsNewEveryTurns: Number(process.env['BENCH_CONTINUE_AS_NEW_EVERY']) } : {}) },
  }),
  'bench',
);

let seq = 0;
function input(): AgentRunInput {
  seq += 1;
  return {
    tenantId: 'contoso',
    runId: `contoso--bench${String(seq).padStart(6, '0')}${process.pid}`,
    agent,
    input: { inline: 'benchmark' },
    variables: {},
    initiator: { kind: 'cli', id: 'bench' },
    correlationId: `bench-${seq}`,
    depth: 0,
  };
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? NaN;
}

function median(values: number[]): number {
  return quantile(values, 0.5);
}

/** A loopback OTLP/HTTP receiver that reads and drops what it is sent (counts requests and bytes). */
async function startReceiver(): Promise<{ url: string; stats: { requests: number; bytes: number }; stop(): Promise<void> }> {
  const stats = { requests: 0, bytes: 0 };
  const server = createServer((req, res) => {
    req.on('data', (c: Buffer) => (stats.bytes += c.length));
    req.on('end', () => {
      stats.requests += 1;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, stats, stop: () => new Promise((resolve) => server.close(() => resolve())) };
}

async function main(): Promise<void> {
  const azurite = await startAzurite();
  const model = await startOfflineModel();
  const telemetry = process.env['BENCH_TELEMETRY'] === 'otlp' ? await startReceiver() : undefined;
  Object.assign(process.env, {
    STORAGE_CONNECTION_STRING: azurite.connectionString,
    MODEL_BASE_URL: model.url,
    RUN_EVENTS_FILE: '',
    TELEMETRY_FILE: '',
    ...(telemetry
      ? { OTEL_EXPORTER_OTLP_ENDPOINT: telemetry.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', TELEMETRY_EXPORT_INTERVAL_MS: process.env['TELEMETRY_EXPORT_INTERVAL_MS'] ?? '100' }
      : {}),
  });
  const devhost = await startDevhost({ appDir: ROOT, port: 0, storage: 'memory', logLevel: 'warn' });
  // Imported only now: the composition root reads settings when it loads.
  const { deps } = await appModule<typeof CompositionRoot>('shared/composition-root.js');
  const { createAgentActivities } = await appModule<typeof AgentActivities>('shared/agent-runtime/agent-activities.js');
  const { MemoryBlobStore } = await appModule<typeof MemoryBlobStoreModule>('shared/storage/memory-blob-store.js');
  const { BlobRunEventSink, RunEventBus } = await appModule<typeof RunEventsModule>('shared/agent-runtime/run-events.js');
  const { RunTelemetrySink } = await appModule<typeof RunTelemetrySinkModule>('shared/telemetry/run-telemetry-sink.js');
  const direct = createAgentActivities(deps.runtime);
  const code = encodeURIComponent(devhost.keys.keys.masterKey);
  const durable = devhost.extension(isDurableExtension);
  if (!durable) throw new Error('the devhost has no durable extension');
  try {
    const runDirect = async (): Promise<number> => {
      model.script(script());
      const run = input();
      const started = performance.now();
      const { agent: ref } = await direct.prepareRun({ run, startedAt: new Date().toISOString() });
      let messageCount = 0;
      let pending: ToolOutcome[] = [];
      for (let turn = 1; ; turn++) {
        const out = await direct.callModel({ ...run, agent: ref, turn, messageCount, ...(turn === 1 ? { userInput: run.input } : {}), toolOutcomes: pending });
        messageCount = out.messageCount;
        if (out.answer) break;
        pending = await Promise.all(out.toolCalls.map((call) => direct.runTool({ ...run, agent: ref, call })));
      }
      await direct.recordRunEvent({ ...run, type: 'run.completed', data: {} });
      return performance.now() - started;
    };
    const runDurable = async (): Promise<number> => {
      model.script(script());
      const run = input();
      const started = performance.now();
      const res = await fetch(`${devhost.url}/runtime/webhooks/durabletask/orchestrators/agentRun/${run.runId}?code=${code}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(run),
      });
      if (res.status !== 202) throw new Error(`start failed ${res.status}`);
      // Wait in-process on the engine's completion signal (no polling competing with the run).
      const done = await durable.engine.waitForTerminal(run.runId, 120_000);
      if (done?.status !== 'Completed') throw new Error(`run ended ${done?.status ?? 'by timeout'}`);
      return performance.now() - started;
    };
    /** Wall time and this process's CPU time (user + system, all threads) of one run, in ms. */
    const timed = async (run: () => Promise<number>): Promise<{ wall: number; cpu: number }> => {
      const cpu = process.cpuUsage();
      const wall = await run();
      const used = process.cpuUsage(cpu);
      return { wall, cpu: (used.user + used.system) / 1000 };
    };
    const measure = async (label: string): Promise<void> => {
      // Warm-up (JIT, connections, container creation): a few runs of each path.
      for (let i = 0; i < WARMUP; i++) {
        await runDirect();
        await runDurable();
      }
      // Paired runs, alternating, so machine noise hits both paths alike.
      const direct: { wall: number; cpu: number }[] = [];
      const durable: { wall: number; cpu: number }[] = [];
      for (let i = 0; i < RUNS; i++) {
        direct.push(await timed(runDirect));
        durable.push(await timed(runDurable));
      }
      const turns = TOOL_TURNS + 1;
      const wallDiff = durable.map((d, i) => (d.wall - (direct[i]?.wall ?? 0)) / turns);
      const cpuDiff = durable.map((d, i) => (d.cpu - (direct[i]?.cpu ?? 0)) / turns);
      console.log(`  [${label}]`);
      console.log(`    direct (same activities in one process): ${median(direct.map((r) => r.wall)).toFixed(1)} ms`);
      console.log(`    through the devhost Durable backend:     ${median(durable.map((r) => r.wall)).toFixed(1)} ms (end to end, start to Completed)`);
      console.log(
        `    orchestration overhead per turn:          ${median(wallDiff).toFixed(2)} ms (median of paired differences / ${turns} turns; ` +
          `quartiles ${quantile(wallDiff, 0.25).toFixed(2)}-${quantile(wallDiff, 0.75).toFixed(2)}; target <= 5 ms)`,
      );
      console.log(`    CPU overhead per turn:                    ${median(cpuDiff).toFixed(2)} ms (process CPU time, same pairing; steadier than wall time on a shared VM)`);
      if (process.env['BENCH_VERBOSE']) console.log({ direct, durable });
    };
    console.log(
      `bench:agent ${TOOL_TURNS + 1} turns (${TOOL_TURNS} with ${TOOLS_PER_TURN} parallel tools + final answer), offline model at 0 ms, continue-as-new every ${agent.definition.limits.continueAsNewEveryTurns} turns, median of ${RUNS} paired runs, telemetry ${telemetry ? `on (OTLP/JSON to ${telemetry.url}, exporters: ${deps.telemetry.exporters.join(', ')})` : 'off'}`,
    );
    // Orchestration overhead alone: both paths share the app's runtime object, so swapping its blob
    // store for an in-memory one takes storage latency (and its noise) out of both sides.
    // The run-event bus writes the run's event log to Blob too: swap it with the store.
    const azureBlobs = deps.runtime.blobs;
    const azureEvents = deps.runtime.events;
    const memory = new MemoryBlobStore();
    deps.runtime.blobs = memory;
    deps.runtime.events = new RunEventBus(
      [{ name: 'blob', sink: new BlobRunEventSink(memory), required: true }, ...(telemetry ? [{ name: 'telemetry', sink: new RunTelemetrySink() }] : [])],
      () => {},
    );
    await measure('in-memory blob store: orchestration overhead');
    deps.runtime.blobs = azureBlobs;
    deps.runtime.events = azureEvents;
    if (!process.env['BENCH_MEMORY_ONLY']) await measure('Azurite blob store: end to end');
  } finally {
    await devhost.stop();
    if (telemetry) console.log(`  telemetry receiver got ${telemetry.stats.requests} export requests, ${(telemetry.stats.bytes / 1024).toFixed(0)} KiB`);
    await telemetry?.stop();
    await model.stop();
    await azurite.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
