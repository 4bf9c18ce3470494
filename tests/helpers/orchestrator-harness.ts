import { join } from 'node:path';
import type { OrchestratorDef } from '../../shared/agent-runtime/activity-catalog.js';
import { AgentDefinitionSchema, snapshotOf, type AgentDefinition, type AgentLimits, type AgentSnapshot } from '../../shared/agents/agent-definition.js';
import { buildRunInput } from '../../shared/agent-runtime/run-input.js';
import type { AgentRunInput, RunProgress } from '../../shared/agent-runtime/run-types.js';
import { createDurableExtension, isDurableExtension, type OrchestrationEngine } from '../../devhost/durable/index.js';
import type { InstanceRecord } from '../../devhost/durable/durable-store.js';
import { eventTypeName, type HistoryEvent } from '../../devhost/durable/history.js';
import type { ManualClock } from '../../devhost/host/clock.js';
import { startDevhost, type Devhost } from '../../devhost/host/host.js';
import { fakeActivities, type FakeActivities } from './fake-activities.js';
import { eventually } from './eventually.js';

/**
 * Orchestrator tests (CONVENTIONS.md 10, "orchestration"): the real orchestrators from
 * shared/orchestrators/, replayed by the real `durable-functions` SDK on the devhost's durable
 * engine, in this process, with fake activities (tests/helpers/fake-activities.ts).
 *
 * The app is tests/orchestrators/app/: the devhost loads it through its package.json `main`, as
 * any app; its entry is TypeScript, which vitest compiles on import, so the tests run from source
 * with no build and no dist/. Only the durable extension starts (no HTTP, timer or Service Bus
 * triggers); storage is in memory. By default durable time is real but short: the agents' limits
 * use durations of a few milliseconds where a test needs a timer to fire. With `{ clock }` (a
 * `ManualClock`, devhost/host/clock.ts) durable time stands still until the test advances it, or
 * skips to the next timer whenever the engine is idle (`autoAdvance`), so a test can take the
 * real limits (a 24-hour approval window, a 10-minute model outage) in milliseconds. Tests wait
 * on signals (instance status, recorded run events, tool starts), never on sleeps.
 */

export const orchestratorAppDir = join(import.meta.dirname, '..', 'orchestrators', 'app');

export interface OrchestratorHarnessOptions {
  /** Durable time for the engine (history timestamps, `currentUtcDateTime`, timer firing). Default: real time. */
  clock?: ManualClock;
}

export interface OrchestratorHarness {
  host: Devhost;
  engine: OrchestrationEngine;
  fakes: FakeActivities;
  /** Starts `orchestrator` with `input`; resolves with the instance id. */
  start<I>(orchestrator: OrchestratorDef<I, unknown>, input: I, instanceId?: string): string;
  /** Waits (event-driven) until the instance is Completed, Failed or Terminated. */
  finished(instanceId: string, timeoutMs?: number): Promise<InstanceRecord>;
  /**
   * Resolves once `predicate` holds for the instance's stored history (checked as the engine
   * commits, every few milliseconds; in memory, no HTTP). For states no fake activity signals,
   * such as "the orchestrator is now waiting in its Task.any".
   */
  until(instanceId: string, predicate: (history: HistoryEvent[]) => boolean, what: string, timeoutMs?: number): Promise<void>;
  /** Raises an external event with `data` as its JSON payload. */
  raise(instanceId: string, event: string, data: unknown): void;
  /** The instance's custom status (the run's progress), parsed. */
  progress(instanceId: string): RunProgress | undefined;
  history(instanceId: string): HistoryEvent[];
  /**
   * With a manual clock: skips time to the next durable timer whenever the engine is idle
   * (`ManualClock.autoAdvance`) until the returned function is called (or the harness stops).
   */
  autoAdvance(): () => void;
  stop(): Promise<void>;
}

export async function startOrchestratorHarness(options: OrchestratorHarnessOptions = {}): Promise<OrchestratorHarness> {
  const { clock } = options;
  const host = await startDevhost({
    appDir: orchestratorAppDir,
    port: 0,
    storage: 'memory',
    logLevel: 'error',
    extensions: [(services) => createDurableExtension(services, clock ? { clock } : {})],
  });
  const durable = host.extension(isDurableExtension);
  if (!durable) throw new Error('durable extension missing');
  const { engine } = durable;
  const fakes = fakeActivities();
  const skipping = new Set<() => void>();
  const autoAdvance = (): (() => void) => {
    if (!clock) throw new Error('autoAdvance needs the harness started with a ManualClock ({ clock })');
    const stopSkipping = clock.autoAdvance(() => engine.whenIdle());
    const stop = (): void => {
      skipping.delete(stop);
      stopSkipping();
    };
    skipping.add(stop);
    return stop;
  };
  return {
    host,
    engine,
    fakes,
    start(orchestrator, input, instanceId) {
      return engine.startOrchestration(orchestrator.name, instanceId, JSON.stringify(input));
    },
    async finished(instanceId, timeoutMs = 10_000) {
      const record = await engine.waitForTerminal(instanceId, timeoutMs);
      if (!record || !['Completed', 'Failed', 'Terminated'].includes(record.status)) {
        const now = engine.getInstance(instanceId);
        const history = engine.history(instanceId).map((e) => `${eventTypeName(e.EventType)}${e.Name ? `(${e.Name})` : ''}`);
        throw new Error(
          `instance ${instanceId} did not finish in ${timeoutMs} ms: status ${now?.status ?? 'unknown'}, custom status ${now?.customStatus ?? '-'}, history ${history.join(' ')}`,
        );
      }
      return record;
    },
    async until(instanceId, predicate, what, timeoutMs = 10_000) {
      await eventually(`instance ${instanceId}: ${what}`, () => predicate(engine.history(instanceId)), { timeoutMs, intervalMs: 2 });
    },
    raise(instanceId, event, data) {
      const result = engine.raiseEvent(instanceId, event, JSON.stringify(data));
      if (result !== 'accepted') throw new Error(`raising ${event} on ${instanceId}: ${result}`);
    },
    progress(instanceId) {
      const text = engine.getInstance(instanceId)?.customStatus;
      return text ? (JSON.parse(text) as RunProgress) : undefined;
    },
    history: (instanceId) => engine.history(instanceId),
    autoAdvance,
    async stop() {
      for (const stopSkipping of [...skipping]) stopSkipping();
      fakes.releaseAll();
      await host.stop();
    },
  };
}

/** The output of a finished instance, parsed. */
export function outputOf<T>(record: InstanceRecord): T {
  return JSON.parse(record.output ?? 'null') as T;
}

/** Limits that make every timer a test needs fire within milliseconds. */
export const FAST_LIMITS: Partial<AgentLimits> = {
  toolRetryIntervalMs: 10,
  modelRetryIntervalMs: 10,
  modelMaxAttempts: 2,
};

/** An agent snapshot with `tools` and limits over the defaults (parsed by the real schema). */
export function testAgent(id: string, options: { tools?: unknown[]; limits?: Partial<AgentLimits> } = {}): AgentSnapshot {
  const definition: AgentDefinition = AgentDefinitionSchema.parse({
    id,
    version: 1,
    description: `test agent ${id}`,
    systemPrompt: 'You are a test agent.',
    model: { deployments: ['fake'] },
    tools: options.tools ?? [],
    limits: { ...FAST_LIMITS, ...options.limits },
  });
  return snapshotOf(definition, 'catalog');
}

let runCounter = 0;

/** A unique run id per call, readable in failures. */
export function newRunId(label: string): string {
  runCounter += 1;
  return `${label}-${runCounter}-${Math.random().toString(36).slice(2, 8)}`;
}

/** A top-level run input for `agent`, as the doors build it. */
export function runInputFor(agent: AgentSnapshot, text: string, options: { runId?: string; subAgents?: Record<string, AgentSnapshot> } = {}): AgentRunInput {
  return buildRunInput({
    tenantId: 'contoso',
    runId: options.runId ?? newRunId(agent.definition.id),
    agent,
    subAgents: options.subAgents ?? {},
    input: { inline: text },
    initiator: { kind: 'user', id: 'tester' },
    correlationId: 'corr-1',
  });
}
