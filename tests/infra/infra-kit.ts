import { compileInfra, ENVIRONMENTS, locateBicep, readCompiledIfCurrent, writeCompiled } from '../../scripts/bicep-cli.mjs';
import { deployedResources, parameterValues, render, type DeployedResource } from './arm-expressions.js';

/**
 * The compiled infra for tests/infra: dist/infra from `npm run infra:build` when it was built
 * from the current sources (no compile at all), else compiled once here with the real compiler
 * and stored there for the other test files. Undefined when no compiler can be found: the tests
 * skip (describe.skipIf) with {@link skipReason}; `.ci/run` fails in that case through
 * `npm run infra:build`.
 */
export type Environment = (typeof ENVIRONMENTS)[number];
export type Json = Record<string, unknown>;

function load(): { template: Json; parameters: Record<string, Json> } | string {
  const current = readCompiledIfCurrent();
  if (current) return current;
  const cli = locateBicep();
  if ('missing' in cli) return cli.missing;
  const compiled = compileInfra(cli);
  writeCompiled(compiled, { clean: compiled.diagnostics.length === 0 });
  return compiled;
}

const loaded = load();
export const infra = typeof loaded === 'string' ? undefined : loaded;
export const skipReason = typeof loaded === 'string' ? `no Bicep compiler: ${loaded}` : '';
if (skipReason) console.warn(`tests/infra SKIPPED (${skipReason}); CI (.ci/run) fails in this case.`);

export { ENVIRONMENTS };

function requireInfra() {
  if (!infra) throw new Error(skipReason);
  return infra;
}

export function templateOf(): Json {
  return requireInfra().template;
}

/** Parameter values of one environment's .bicepparam, with `overrides` on top. */
export function valuesFor(env: Environment, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const params = requireInfra().parameters[env];
  if (!params) throw new Error(`no parameters for ${env}`);
  return { ...parameterValues(params), ...overrides };
}

/** Every resource the environment deploys (modules expanded, conditions and loops applied). */
export function resourcesFor(env: Environment, overrides: Record<string, unknown> = {}, template: Json = templateOf()): DeployedResource[] {
  return deployedResources(template, valuesFor(env, overrides));
}

export function ofType(resources: DeployedResource[], type: string): DeployedResource[] {
  return resources.filter((r) => r.type.toLowerCase() === type.toLowerCase());
}

export function single(resources: DeployedResource[], type: string): DeployedResource {
  const found = ofType(resources, type);
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
  return found[0] as DeployedResource;
}

export function props(resource: DeployedResource): Json {
  return (resource.body.properties ?? {}) as Json;
}

/** The Function App's app settings as strings (ARM runtime values as placeholders). */
export function appSettingsFor(env: Environment, overrides: Record<string, unknown> = {}, template: Json = templateOf()): Record<string, string> {
  const config = ofType(resourcesFor(env, overrides, template), 'Microsoft.Web/sites/config').find((r) => r.name.endsWith('/appsettings'));
  if (!config) throw new Error('no Microsoft.Web/sites/config appsettings resource');
  const rendered = render(props(config)) as Record<string, unknown>;
  return Object.fromEntries(Object.entries(rendered).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]));
}
