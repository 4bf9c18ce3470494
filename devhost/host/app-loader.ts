import { existsSync, globSync, readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ProgrammingModel, RegisteredFunction } from './core-types.js';
import { AppLoadError } from './app-load-error.js';
import { applyLocalSettings, readHostJson } from './app-settings.js';
import type { HostJson } from './extension-types.js';
import { AppRegistrations, captureRegistrations, currentProgrammingModel, installFunctionsCoreShim } from './functions-core-shim.js';
import { compileRoute, RouteTemplateError } from '../http/http-route.js';

export { AppLoadError } from './app-load-error.js';
export { applyLocalSettings, readHostJson } from './app-settings.js';

/**
 * A registered function the devhost does not run. `error`: it cannot be served (an unsupported
 * binding, an invalid registration; the Functions host's "function is in error", which disables
 * that function and runs the rest). `setting`: `AzureWebJobs.<name>.Disabled` is true or 1.
 */
export interface DisabledFunction {
  name: string;
  /** The trigger binding's type, when the registration has exactly one trigger. */
  triggerType: string | undefined;
  cause: 'error' | 'setting';
  reasons: string[];
}

export interface LoadedApp {
  appDir: string;
  hostJson: HostJson;
  registrations: AppRegistrations;
  programmingModel: ProgrammingModel;
  /** The functions the devhost runs. */
  functions: Map<string, RegisteredFunction>;
  /** Registered functions it does not run, in registration order (see {@link DisabledFunction}). */
  disabled: DisabledFunction[];
}

/**
 * Binding types the devhost can serve. A function using any other is disabled with the reason
 * (as the Functions host does with a binding type no installed extension registers).
 */
const SUPPORTED_TRIGGERS = new Set(['httpTrigger', 'timerTrigger', 'serviceBusTrigger', 'orchestrationTrigger', 'activityTrigger', 'entityTrigger', 'blobTrigger', 'queueTrigger']);
const SUPPORTED_BINDINGS = new Set(['http', 'serviceBus', 'durableClient', 'blob', 'queue']);
const HTTP_METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'TRACE', 'CONNECT']);

// ES modules are cached per process, so an app folder is imported once and its registrations
// reused when a later devhost (a restart in the same test process) hosts it again.
const loadedApps = new Map<string, { registrations: AppRegistrations; programmingModel: ProgrammingModel }>();

function readJson<T>(file: string, what: string): T {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch (error) {
    throw new AppLoadError([`${what} (${file}) is not valid JSON: ${(error as Error).message}`]);
  }
}

/** Lists the entry files named by package.json `main` (globs allowed, as the Functions host does). */
export function resolveEntryFiles(appDir: string): string[] {
  const pkgFile = join(appDir, 'package.json');
  if (!existsSync(pkgFile)) throw new AppLoadError([`no package.json in ${appDir}`]);
  const pkg = readJson<{ main?: unknown }>(pkgFile, 'package.json');
  const main = typeof pkg.main === 'string' && pkg.main.trim() !== '' ? pkg.main : 'index.js';
  const files = /[*?{[]/.test(main)
    ? globSync(main, { cwd: appDir })
        .map((f) => resolve(appDir, f))
        .sort()
    : [resolve(appDir, main)].filter((f) => existsSync(f));
  if (files.length === 0) {
    throw new AppLoadError([`package.json "main" (${main}) matches no file in ${appDir}; did you build the app?`]);
  }
  return files;
}

/**
 * True when `AzureWebJobs.<name>.Disabled` (or `AzureWebJobs_<name>_Disabled`, the spelling for
 * environments that allow no dots) is `true` or `1`, ignoring case in name and value, as the
 * WebJobs function indexer reads it.
 */
export function isDisabledBySetting(name: string, settings: Readonly<Record<string, string | undefined>>): string | undefined {
  const wanted = new Set([`azurewebjobs.${name}.disabled`, `azurewebjobs_${name}_disabled`].map((n) => n.toLowerCase()));
  for (const [key, value] of Object.entries(settings)) {
    if (value !== undefined && wanted.has(key.toLowerCase()) && /^(true|1)$/i.test(value.trim())) return key;
  }
  return undefined;
}

interface Validation {
  functions: Map<string, RegisteredFunction>;
  disabled: DisabledFunction[];
  /** Problems that stop the whole host (the Functions host fails to start on them too). */
  fatal: string[];
}

function validate(raw: AppRegistrations, settings: Readonly<Record<string, string | undefined>>): Validation {
  const fatal: string[] = [];
  const disabled: DisabledFunction[] = [];
  const functions = new Map<string, RegisteredFunction>();
  const seen = new Set<string>();
  for (const { metadata, callback } of raw.functions) {
    const name = metadata.name;
    const where = `function "${name}"`;
    const triggers = Object.entries(metadata.bindings).filter(([, b]) => b.direction === 'in' && typeof b.type === 'string' && b.type.endsWith('Trigger'));
    const triggerType = triggers.length === 1 ? (triggers[0]?.[1].type ?? undefined) : undefined;
    const problems: string[] = [];
    const fail = (): void => void disabled.push({ name, triggerType, cause: 'error', reasons: problems });
    if (seen.has(name.toLowerCase())) {
      problems.push(`${where} is registered twice`);
      fail();
      continue;
    }
    seen.add(name.toLowerCase());
    if (triggers.length !== 1) {
      problems.push(`${where} must have exactly one trigger, found ${triggers.length}`);
      fail();
      continue;
    }
    const [triggerBindingName, trigger] = triggers[0] as [string, { type: string }];
    for (const [bindingName, binding] of Object.entries(metadata.bindings)) {
      const type = binding.type ?? '';
      const known = binding === trigger ? SUPPORTED_TRIGGERS.has(type) : SUPPORTED_BINDINGS.has(type);
      if (!known) problems.push(`${where}: binding "${bindingName}" has type "${type}", which the devhost does not support`);
    }
    if (trigger.type === 'httpTrigger') {
      const t = trigger as { route?: unknown; methods?: unknown; authLevel?: unknown };
      const route = typeof t.route === 'string' ? t.route : name;
      try {
        compileRoute(route);
      } catch (error) {
        // The Functions host builds its route table after indexing, outside the per-function
        // error handling: an unparsable template fails the whole host, so it does here too.
        const reason = error instanceof RouteTemplateError ? error.message : String(error);
        fatal.push(`${where}: invalid route template "${route}": ${reason}`);
      }
      const methods = Array.isArray(t.methods) ? t.methods : [];
      for (const m of methods) {
        if (typeof m !== 'string' || !HTTP_METHODS.has(m.toUpperCase())) problems.push(`${where}: unknown HTTP method "${String(m)}"`);
      }
      const level = t.authLevel ?? 'anonymous';
      if (level !== 'anonymous' && level !== 'function' && level !== 'admin') {
        problems.push(`${where}: authLevel must be anonymous, function or admin, got "${String(level)}"`);
      }
    }
    if (problems.length > 0) {
      fail();
      continue;
    }
    const setting = isDisabledBySetting(name, settings);
    if (setting) {
      disabled.push({ name, triggerType, cause: 'setting', reasons: [`disabled by the setting ${setting}`] });
      continue;
    }
    functions.set(name, { name, metadata, callback, triggerBindingName, trigger });
  }
  return { functions, disabled, fatal };
}

/**
 * Loads a Functions v4 Node app folder the way the worker does: local settings into the
 * environment (never over a variable already set), then host.json read against that merged view
 * (`AzureFunctionsJobHost__*` overrides, `%name%` references; see `app-settings.ts`), then every
 * entry file imported with `@azure/functions-core` provided. `warn` hears about host.json
 * references to settings that are not set. A function that cannot be served, or that
 * `AzureWebJobs.<name>.Disabled` switches off, is returned in `disabled` and the rest in
 * `functions`. Throws {@link AppLoadError} when the app as a whole cannot be hosted (no entry
 * file, an import that throws, no programming model, an invalid HTTP route template).
 */
export async function loadApp(appDirInput: string, options: { warn?: (message: string) => void } = {}): Promise<LoadedApp> {
  const appDir = isAbsolute(appDirInput) ? appDirInput : resolve(appDirInput);
  applyLocalSettings(appDir);
  const hostJson = readHostJson(appDir, process.env, options.warn);
  let cached = loadedApps.get(appDir);
  if (!cached) {
    const files = resolveEntryFiles(appDir);
    installFunctionsCoreShim();
    const registrations = new AppRegistrations();
    await captureRegistrations(registrations, async () => {
      for (const file of files) {
        try {
          await import(pathToFileURL(file).href);
        } catch (error) {
          throw new AppLoadError([`loading ${file} failed: ${(error as Error).stack ?? String(error)}`]);
        }
      }
    });
    const programmingModel = currentProgrammingModel();
    if (!programmingModel) {
      throw new AppLoadError([`${appDir} registered no programming model; does it import "@azure/functions"?`]);
    }
    cached = { registrations, programmingModel };
    loadedApps.set(appDir, cached);
  }
  const { functions, disabled, fatal } = validate(cached.registrations, process.env);
  if (fatal.length > 0) throw new AppLoadError(fatal);
  return { appDir, hostJson, functions, disabled, ...cached };
}
