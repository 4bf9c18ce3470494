import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DatabaseSync } from 'node:sqlite';
import type { InvocationOutcome, Invoker, RegisteredFunction, RpcBindingInfo, RpcTypedData } from './core-types.js';
import type { FunctionKeyStore } from './function-keys.js';
import type { DevhostLogger } from './logger.js';

/** host.json, as far as the devhost reads it. Unknown keys are kept and ignored. */
export interface HostJson {
  version?: string;
  extensions?: {
    http?: { routePrefix?: string; maxRequestBodySizeInBytes?: number };
    durableTask?: {
      hubName?: string;
      maxConcurrentActivityFunctions?: number;
      maxConcurrentOrchestratorFunctions?: number;
      maxConcurrentEntityFunctions?: number;
      [key: string]: unknown;
    };
    serviceBus?: {
      maxConcurrentCalls?: number;
      maxDeliveryCount?: number;
      [key: string]: unknown;
    };
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

/** What the devhost core hands to a trigger extension (durable, service bus, timers). */
export interface HostServices {
  db: DatabaseSync;
  functions: ReadonlyMap<string, RegisteredFunction>;
  invoke: Invoker;
  hostJson: HostJson;
  /** `http://127.0.0.1:<port>`; valid once the server listens (before any extension starts). */
  baseUrl(): string;
  logger: DevhostLogger;
  /** The host's keys: extensions guard their own HTTP routes with them (e.g. a system key). */
  keys: FunctionKeyStore;
  /** The host-wide request body limit (FUNCTIONS_REQUEST_BODY_SIZE_LIMIT); read bodies with `readBody`. */
  maxRequestBodyBytes: number;
}

/**
 * What an invocation was triggered with: the trigger's (and any caller-supplied) input data and
 * its trigger metadata. Binding expressions such as a blob path's `{name}` resolve against it.
 */
export interface InvocationBindingContext {
  inputs: Readonly<Record<string, RpcTypedData | null | undefined>>;
  triggerMetadata: Readonly<Record<string, RpcTypedData>>;
}

/** A trigger extension plugged into the devhost (durable backend, queues, timers). */
export interface HostExtension {
  /** Trigger types this extension drives, e.g. `['timerTrigger']`. */
  readonly triggerTypes: readonly string[];
  /** Output/input binding types this extension serves, e.g. `['serviceBus']`, `['durableClient']`. */
  readonly bindingTypes?: readonly string[];
  /**
   * `POST /admin/functions/{name}` for a function whose trigger this extension owns; `input` is the
   * request body's `input` string. Resolves once the work is accepted (not necessarily finished).
   */
  invokeFromAdmin?(fn: RegisteredFunction, input: string | undefined): Promise<void>;
  /**
   * Called after every successful invocation so the extension can route its output bindings;
   * `invocation` is what it was triggered with (for binding expressions in output paths). A
   * rejection fails the invocation, as an output binding that cannot be written does in the host.
   */
  deliverOutputs?(fn: RegisteredFunction, outcome: InvocationOutcome, invocation?: InvocationBindingContext): Promise<void>;
  /**
   * Serves the extension's own HTTP routes; resolves true when it handled the request. The core
   * has already checked the `Host`, refused cross-site writes to `/admin/` and `/runtime/`, refused
   * a declared body over the limit, and checked the admin key for paths under `/admin/`; other
   * paths are the extension's to guard (with `services.keys`).
   */
  handleHttp?(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean>;
  /**
   * Problems that keep `fn` from being served, for a function whose trigger or a binding of which
   * this extension owns (a bad setting, an unsupported option). Called before `start`; a function
   * with problems is disabled with them as the reason (the host's "function is in error") and the
   * rest of the app runs. Must not throw.
   */
  checkFunction?(fn: RegisteredFunction): string[];
  /**
   * Input data for an input binding the extension owns that needs I/O or the trigger's data (a
   * blob input whose path says `{name}`); preferred over `bindingData`. Resolves `null` for
   * nothing (a blob that does not exist). A rejection fails the invocation before the handler runs.
   */
  resolveInput?(binding: RpcBindingInfo, fn: RegisteredFunction, invocation: InvocationBindingContext): Promise<RpcTypedData | null | undefined>;
  /** Input data for a binding the extension owns (e.g. `durableClient`), as a JSON string. */
  bindingData?(binding: RpcBindingInfo, fn: RegisteredFunction): string | undefined;
  start(): Promise<void>;
  /** Stops taking new work and waits for in-flight invocations to settle. */
  stop(): Promise<void>;
}
