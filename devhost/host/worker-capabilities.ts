import type { ProgrammingModel } from './core-types.js';

/**
 * The capabilities the Node worker reports to the host in its `WorkerInitResponse`, after the app
 * is loaded: its own fixed set, passed through the programming model's `getCapabilities` when
 * the model has one (nodejs-worker `src/eventHandlers/getWorkerCapabilities.ts`, called by
 * `WorkerInitHandler` after `startApp`). `@azure/functions` locks `app.setup()` there and, with
 * `enableHttpStream`, starts its HTTP proxy and adds its address as `HttpUri`
 * (nodejs-library `src/ProgrammingModel.ts`, `src/http/httpProxy.ts`).
 */

/** The worker's own capabilities, before the programming model adds to them. */
export const NODE_WORKER_CAPABILITIES: Readonly<Record<string, string>> = {
  RawHttpBodyBytes: 'true',
  RpcHttpTriggerMetadataRemoved: 'true',
  RpcHttpBodyOnly: 'true',
  IgnoreEmptyValuedRpcHttpHeaders: 'true',
  UseNullableValueDictionaryForHttp: 'true',
  WorkerStatus: 'true',
  TypedDataCollection: 'true',
  HandlesWorkerTerminateMessage: 'true',
};

/** Capability names the devhost acts on (azure-functions-host `RpcWorkerConstants`). */
export const HTTP_URI_CAPABILITY = 'HttpUri';
export const REQUIRES_ROUTE_PARAMETERS_CAPABILITY = 'RequiresRouteParameters';

// The library is loaded once per process and its proxy cannot be stopped, so the model is asked
// once, as the one worker process would; later devhosts on the same app reuse the answer.
const negotiated = new WeakMap<ProgrammingModel, Promise<Readonly<Record<string, string>>>>();

/** The worker's capabilities for `model` (asked once per programming model per process). */
export function workerCapabilities(model: ProgrammingModel): Promise<Readonly<Record<string, string>>> {
  let answer = negotiated.get(model);
  if (!answer) {
    const base = { ...NODE_WORKER_CAPABILITIES };
    answer = model.getCapabilities ? model.getCapabilities(base) : Promise.resolve(base);
    negotiated.set(model, answer);
  }
  return answer;
}

/** True when the host treats the capability as set: present and not empty (`GetCapabilityState`). */
export function hasCapability(capabilities: Readonly<Record<string, string>>, name: string): boolean {
  const value = capabilities[name];
  return value !== undefined && value !== '';
}
