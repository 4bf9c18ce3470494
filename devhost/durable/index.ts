import { availableParallelism } from 'node:os';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../host/clock.js';
import type { RegisteredFunction, RpcBindingInfo } from '../host/core-types.js';
import type { HostExtension, HostServices } from '../host/extension-types.js';
import { DURABLE_SYSTEM_KEY } from '../host/function-keys.js';
import { clientBindingData, type HubSettings } from './client-binding.js';
import { createDurableHttpApi } from './durable-http-api.js';
import { DurableStore, type InstanceQuery, type RuntimeStatus } from './durable-store.js';
import { isJsonText } from './json-text.js';
import { OrchestrationEngine } from './orchestration-engine.js';

export { OrchestrationEngine } from './orchestration-engine.js';
export type { EngineStats } from './orchestration-engine.js';
export type { RuntimeStatus } from './durable-store.js';

/** One line of `listInstances()`: what a developer needs to see what happened. */
export interface InstanceSummary {
  instanceId: string;
  name: string;
  runtimeStatus: RuntimeStatus;
  createdTime: string;
  lastUpdatedTime: string;
  /** JSON text, when set. */
  customStatus?: string;
  /** JSON text (or the reason, for failed and terminated instances), when finished. */
  output?: string;
}

/** The durable backend as the devhost core sees it, plus inspection for the CLI and tests. */
export interface DurableExtension extends HostExtension {
  /** The engine, for tests and benchmarks. Valid after `start()`. */
  readonly engine: OrchestrationEngine;
  /** Instances, oldest first, optionally only those in `statuses`. */
  listInstances(filter?: { statuses?: readonly RuntimeStatus[]; instanceIdPrefix?: string }): InstanceSummary[];
  /** Resolves once no episode, activity or entity batch is queued or running (timers may be pending). */
  waitForIdle(): Promise<void>;
}

/** Picks the durable extension out of the devhost's extensions (`devhost.extension(isDurableExtension)`). */
export function isDurableExtension(extension: HostExtension): extension is DurableExtension {
  return extension.triggerTypes.includes('orchestrationTrigger') && 'listInstances' in extension;
}

/** Options of {@link createDurableExtension} beyond what the host provides. */
export interface DurableExtensionOptions {
  /**
   * Durable time: history timestamps (the orchestrators' `currentUtcDateTime`), when durable
   * timers fire, instance and entity times. Default `systemClock` (real time); tests pass a
   * `ManualClock` (devhost/host/clock.ts) to skip long timers. Only the durable room reads it:
   * timer triggers and Service Bus keep real time.
   */
  clock?: Clock;
}

function positiveInt(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : fallback;
}

/**
 * Creates the Durable Functions backend: orchestrations, activities and entities of the
 * unmodified `durable-functions` SDK, persisted in the devhost's SQLite database, plus the
 * durable HTTP API the SDK's client calls. The core constructs it once the HTTP server listens.
 */
export function createDurableExtension(services: HostServices, options: DurableExtensionOptions = {}): DurableExtension {
  // `hubName` arrives with `%setting%` already resolved (host/app-settings.ts). `storageProvider`
  // (azureStorage, azureManaged, mssql, netherite) and its connection setting are not read: the
  // devhost's SQLite store stands in for whichever backend the app is deployed with.
  const settings = services.hostJson.extensions?.durableTask ?? {};
  const defaultConcurrency = 10 * availableParallelism();
  const hub: HubSettings = {
    taskHub: typeof settings.hubName === 'string' && settings.hubName !== '' ? settings.hubName : 'TestHubName',
    connection: 'Storage',
  };
  const store = new DurableStore(services.db, services.logger);
  const engine = new OrchestrationEngine({
    store,
    functions: services.functions.values(),
    invoke: services.invoke,
    logger: services.logger,
    maxConcurrentActivities: positiveInt(settings.maxConcurrentActivityFunctions, defaultConcurrency),
    maxConcurrentOrchestrations: positiveInt(settings.maxConcurrentOrchestratorFunctions, defaultConcurrency),
    maxConcurrentEntities: positiveInt(settings.maxConcurrentEntityFunctions, defaultConcurrency),
    entityBatchSize: positiveInt(settings['maxEntityOperationBatchSize'], 100),
    overridableExistingInstanceStates: settings['overridableExistingInstanceStates'] === 'AnyState' ? 'AnyState' : 'NonRunningStates',
    ...(options.clock ? { clock: options.clock } : {}),
  });
  const api = createDurableHttpApi({
    engine,
    hub,
    baseUrl: () => services.baseUrl(),
    keys: services.keys,
    maxRequestBodyBytes: services.maxRequestBodyBytes,
  });
  let bindingJson: string | undefined;

  return {
    triggerTypes: ['orchestrationTrigger', 'activityTrigger', 'entityTrigger'],
    bindingTypes: ['durableClient'],
    engine,

    bindingData(_binding: RpcBindingInfo, _fn: RegisteredFunction): string {
      bindingJson ??= clientBindingData(services.baseUrl(), hub, services.keys.systemKey(DURABLE_SYSTEM_KEY));
      return bindingJson;
    },

    handleHttp(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
      return api(req, res, url);
    },

    async invokeFromAdmin(fn: RegisteredFunction, input: string | undefined): Promise<void> {
      const json = input === undefined || input === '' ? undefined : isJsonText(input) ? input : JSON.stringify(input);
      if (fn.trigger.type === 'orchestrationTrigger') {
        engine.startOrchestration(fn.name, undefined, json);
        engine.flush();
        return;
      }
      if (fn.trigger.type === 'activityTrigger') {
        void services.invoke(fn, { [fn.triggerBindingName]: json === undefined ? undefined : { string: json } }).catch(() => undefined);
        return;
      }
      throw new Error(`Entities take operations: POST /runtime/webhooks/durabletask/entities/${fn.name}/{key}?op=<operation>`);
    },

    listInstances(filter = {}): InstanceSummary[] {
      const query: InstanceQuery = {};
      if (filter.statuses) query.statuses = filter.statuses;
      if (filter.instanceIdPrefix !== undefined) query.instanceIdPrefix = filter.instanceIdPrefix;
      return engine.query(query).map((r) => {
        const summary: InstanceSummary = {
          instanceId: r.instanceId,
          name: r.name,
          runtimeStatus: r.status,
          createdTime: new Date(r.createdAt).toISOString(),
          lastUpdatedTime: new Date(r.updatedAt).toISOString(),
        };
        if (r.customStatus !== null) summary.customStatus = r.customStatus;
        if (r.output !== null) summary.output = r.output;
        return summary;
      });
    },

    waitForIdle(): Promise<void> {
      return engine.whenIdle();
    },

    async start(): Promise<void> {
      engine.start();
    },

    async stop(): Promise<void> {
      await engine.stop();
      store.close();
    },
  };
}
