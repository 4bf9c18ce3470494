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

export interface LoadedApp {
  appDir: string;
  hostJson: HostJson;
  registrations: AppRegistrations;
  programmingModel: ProgrammingModel;
  functions: Map<string, RegisteredFunction>;
}

/** Binding types the devhost can serve. Anything else stops the host at start. */
const SUPPORTED_TRIGGERS = new Set(['httpTrigger', 'timerTrigger', 'serviceBusTrigger', 'orchestrationTrigger', 'activityTrigger', 'entityTrigger']);
const SUPPORTED_BINDINGS = new Set(['http', 'serviceBus', 'durableClient']);
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

function validate(raw: AppRegistrations): { functions: Map<string, RegisteredFunction>; problems: string[] } {
  const problems: string[] = [];
  const functions = new Map<string, RegisteredFunction>();
  for (const { metadata, callback } of raw.functions) {
    const name = metadata.name;
    const where = `function "${name}"`;
    if (functions.has(name)) {
      problems.push(`${where} is registered twice`);
      continue;
    }
    const triggers = Object.entries(metadata.bindings).filter(([, b]) => b.direction === 'in' && typeof b.type === 'string' && b.type.endsWith('Trigger'));
    if (triggers.length !== 1) {
      problems.push(`${where} must have exactly one trigger, found ${triggers.length}`);
      continue;
    }
    const [triggerBindingName, trigger] = triggers[0] as [string, { type: string }];
    let ok = true;
    for (const [bindingName, binding] of Object.entries(metadata.bindings)) {
      const type = binding.type ?? '';
      const known = binding === trigger ? SUPPORTED_TRIGGERS.has(type) : SUPPORTED_BINDINGS.has(type);
      if (!known) {
        problems.push(`${where}: binding "${bindingName}" has type "${type}", which the devhost does not support`);
        ok = false;
      }
    }
    if (trigger.type === 'httpTrigger') {
      const t = trigger as { route?: unknown; methods?: unknown; authLevel?: unknown };
      const route = typeof t.route === 'string' ? t.route : name;
      try {
        compileRoute(route);
      } catch (error) {
        const reason = error instanceof RouteTemplateError ? error.message : String(error);
        problems.push(`${where}: invalid route template "${route}": ${reason}`);
        ok = false;
      }
      const methods = Array.isArray(t.methods) ? t.methods : [];
      for (const m of methods) {
        if (typeof m !== 'string' || !HTTP_METHODS.has(m.toUpperCase())) {
          problems.push(`${where}: unknown HTTP method "${String(m)}"`);
          ok = false;
        }
      }
      const level = t.authLevel ?? 'anonymous';
      if (level !== 'anonymous' && level !== 'function' && level !== 'admin') {
        problems.push(`${where}: authLevel must be anonymous, function or admin, got "${String(level)}"`);
        ok = false;
      }
    }
    if (ok) functions.set(name, { name, metadata, callback, triggerBindingName, trigger });
  }
  return { functions, problems };
}

/**
 * Loads a Functions v4 Node app folder the way the worker does: local settings into the
 * environment (never over a variable already set), then host.json read against that merged view
 * (`AzureFunctionsJobHost__*` overrides, `%name%` references; see `app-settings.ts`), then every
 * entry file imported with `@azure/functions-core` provided. `warn` hears about host.json
 * references to settings that are not set. Throws {@link AppLoadError} naming each bad registration.
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
  const { functions, problems } = validate(cached.registrations);
  if (problems.length > 0) throw new AppLoadError(problems);
  return { appDir, hostJson, functions, ...cached };
}
