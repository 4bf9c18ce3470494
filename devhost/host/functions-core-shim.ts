import Module from 'node:module';
import type { FunctionCallback, FunctionMetadata, HookCallback, HookName, ProgrammingModel } from './core-types.js';

/**
 * Provides `@azure/functions-core`, the module the real Node worker injects, so the unmodified
 * `@azure/functions` library can register functions and hooks with the devhost.
 *
 * The library resolves the module once per process and keeps it, so this shim is process-wide.
 * Registrations go to whichever {@link AppRegistrations} is currently capturing (the app being
 * loaded); later registrations (hooks added at run time) go to the last app loaded.
 */

export interface RawRegistration {
  metadata: FunctionMetadata;
  callback: FunctionCallback;
}

export class AppRegistrations {
  readonly functions: RawRegistration[] = [];
  readonly hooks = new Map<HookName, HookCallback[]>();
  /** Per-app data shared by all hook invocations, as the worker's `appHookData`. */
  readonly appHookData: Record<string, unknown> = {};

  hooksFor(name: HookName): HookCallback[] {
    return this.hooks.get(name) ?? [];
  }
}

class Disposable {
  #callback: (() => void) | undefined;
  constructor(callback: () => void) {
    this.#callback = callback;
  }
  static from(...items: { dispose(): unknown }[]): Disposable {
    return new Disposable(() => {
      for (const item of items) item.dispose();
    });
  }
  dispose(): void {
    this.#callback?.();
    this.#callback = undefined;
  }
}

interface ShimState {
  programmingModel: ProgrammingModel | undefined;
  target: AppRegistrations | undefined;
  systemLog: (level: string, category: string, message: string) => void;
}

const state: ShimState = {
  programmingModel: undefined,
  target: undefined,
  systemLog: () => {},
};

const HOOK_NAMES: readonly string[] = ['preInvocation', 'postInvocation', 'appStart', 'appTerminate', 'log'];

function currentTarget(what: string): AppRegistrations {
  if (!state.target) {
    throw new Error(`devhost: ${what} was called before any app was loaded`);
  }
  return state.target;
}

const coreApi = {
  version: '3.10.1',
  hostVersion: '4.1037.0',
  Disposable,
  registerFunction(metadata: FunctionMetadata, callback: FunctionCallback): Disposable {
    const target = currentTarget('registerFunction');
    const registration: RawRegistration = { metadata, callback };
    target.functions.push(registration);
    return new Disposable(() => {
      const index = target.functions.indexOf(registration);
      if (index >= 0) target.functions.splice(index, 1);
    });
  },
  setProgrammingModel(model: ProgrammingModel): void {
    state.programmingModel = model;
  },
  getProgrammingModel(): ProgrammingModel | undefined {
    return state.programmingModel;
  },
  registerHook(name: string, callback: HookCallback): Disposable {
    if (!HOOK_NAMES.includes(name)) {
      throw new RangeError(`Unrecognized hook "${name}"`);
    }
    const target = currentTarget('registerHook');
    const list = target.hooks.get(name as HookName) ?? [];
    list.push(callback);
    target.hooks.set(name as HookName, list);
    return new Disposable(() => {
      const index = list.indexOf(callback);
      if (index >= 0) list.splice(index, 1);
    });
  },
  log(level: string, category: string, message: string): void {
    state.systemLog(level, category, message);
  },
};

let installed = false;

/** Makes `require('@azure/functions-core')` return the shim. Idempotent. */
export function installFunctionsCoreShim(): void {
  if (installed) return;
  installed = true;
  type RequireFn = (this: unknown, id: string) => unknown;
  const proto = Module.prototype as unknown as { require: RequireFn };
  const originalRequire = proto.require;
  proto.require = function patchedRequire(this: unknown, id: string): unknown {
    if (id === '@azure/functions-core') return coreApi;
    return originalRequire.call(this, id);
  };
}

/** Runs `load` with registrations captured into `target`; the target stays current afterwards. */
export async function captureRegistrations(target: AppRegistrations, load: () => Promise<void>): Promise<void> {
  state.target = target;
  await load();
}

export function currentProgrammingModel(): ProgrammingModel | undefined {
  return state.programmingModel;
}

export function setSystemLogSink(sink: (level: string, category: string, message: string) => void): void {
  state.systemLog = sink;
}
