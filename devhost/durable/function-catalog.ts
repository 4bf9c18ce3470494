import type { RegisteredFunction } from '../host/core-types.js';
import type { FunctionCatalog, FunctionKind } from './action-replay.js';

const TRIGGER_OF: Record<FunctionKind, string> = {
  activity: 'activityTrigger',
  orchestrator: 'orchestrationTrigger',
  entity: 'entityTrigger',
};

/**
 * The app's durable functions by kind. Names match case-insensitively, as function names do in
 * the Functions host (`df.app.orchestration("Hello")` answers to `hello`).
 */
export class DurableFunctionIndex implements FunctionCatalog {
  readonly #byKind = new Map<FunctionKind, Map<string, RegisteredFunction>>();

  constructor(functions: Iterable<RegisteredFunction>) {
    for (const kind of Object.keys(TRIGGER_OF) as FunctionKind[]) this.#byKind.set(kind, new Map());
    for (const fn of functions) {
      for (const [kind, trigger] of Object.entries(TRIGGER_OF) as [FunctionKind, string][]) {
        if (fn.trigger.type === trigger) this.#byKind.get(kind)?.set(fn.name.toLowerCase(), fn);
      }
    }
  }

  find(kind: FunctionKind, name: string): RegisteredFunction | undefined {
    return this.#byKind.get(kind)?.get(name.toLowerCase());
  }

  names(kind: FunctionKind): string[] {
    return [...(this.#byKind.get(kind)?.values() ?? [])].map((fn) => fn.name);
  }

  /** The extension's message for a call to a function that is not there. */
  missing(kind: FunctionKind, name: string): string | undefined {
    if (this.find(kind, name)) return undefined;
    const known = this.names(kind);
    const info = known.length > 0 ? `The following are the known ${kind} functions: '${known.join("', '")}'.` : `No ${kind} functions are currently registered!`;
    return `The function '${name}' doesn't exist, is disabled, or is not an ${kind} function. Additional info: ${info}`;
  }
}
