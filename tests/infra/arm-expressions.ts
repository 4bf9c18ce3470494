import { createHash } from 'node:crypto';

/**
 * A small evaluator for the ARM template expression language, enough to read what the compiled
 * infra/main.bicep will configure in one environment: parameters, variables, module (nested
 * deployment) parameters, conditions and copy loops. Values only Azure knows at deployment time
 * (`reference(...)`: endpoints, client ids) become {@link Placeholder}s, rendered as plausible
 * values named after the property (`https://blob-endpoint.placeholder.example/`).
 *
 * An unknown function throws: a template change the evaluator does not understand fails the
 * tests loudly instead of being read wrongly.
 */

export class Placeholder {
  constructor(readonly path: readonly string[]) {}
  /** `reference(...).outputs.blobEndpoint.value` is named `blobEndpoint`; `reference(...).clientId` is `clientId`. */
  get label(): string {
    const p = this.path;
    return (p[0] === 'outputs' && p.length >= 2 ? p[1] : p[p.length - 1]) ?? 'value';
  }
  toString(): string {
    const name = this.label.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
    // Shapes Azure really returns where templates take them apart.
    if (this.label === 'serviceBusEndpoint') return `https://${name}.placeholder.example:443/`;
    if (/(endpoint|uri|url)$/i.test(this.label)) return `https://${name}.placeholder.example/`;
    if (/(namespace|hostname)$/i.test(this.label)) return `${name}.placeholder.example`;
    if (/(id|principalid)$/i.test(this.label) && /client|principal|tenant/i.test(this.label)) return '00000000-0000-4000-8000-000000000001';
    return `placeholder-${name}`;
  }
}

export interface Scope {
  parameter(name: string): unknown;
  variable(name: string): unknown;
  /** Outputs of a module deployed by the same template (`reference(<deployment id>).outputs`). */
  deploymentOutputs?(name: string): Json | undefined;
  copyIndex?: number;
}

type Json = Record<string, unknown>;

// --- parsing ---

type Node =
  | { kind: 'string'; value: string }
  | { kind: 'number'; value: number }
  | { kind: 'call'; name: string; args: Node[] }
  | { kind: 'property'; target: Node; name: string }
  | { kind: 'index'; target: Node; index: Node };

function parse(text: string): Node {
  let i = 0;
  const ws = () => {
    while (i < text.length && /\s/.test(text[i] ?? '')) i++;
  };
  const expect = (c: string) => {
    ws();
    if (text[i] !== c) throw new Error(`expected "${c}" at ${i} in ${text}`);
    i++;
  };
  const primary = (): Node => {
    ws();
    const c = text[i] ?? '';
    if (c === "'") {
      let value = '';
      i++;
      for (;;) {
        if (i >= text.length) throw new Error(`unterminated string in ${text}`);
        if (text[i] === "'") {
          if (text[i + 1] === "'") {
            value += "'";
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += text[i++];
      }
      return { kind: 'string', value };
    }
    if (/[-0-9]/.test(c)) {
      const m = /^-?\d+(\.\d+)?/.exec(text.slice(i));
      if (!m) throw new Error(`bad number at ${i} in ${text}`);
      i += m[0].length;
      return { kind: 'number', value: Number(m[0]) };
    }
    const m = /^[A-Za-z_][A-Za-z0-9_.]*/.exec(text.slice(i));
    if (!m) throw new Error(`unexpected "${c}" at ${i} in ${text}`);
    i += m[0].length;
    expect('(');
    const args: Node[] = [];
    ws();
    if (text[i] === ')') i++;
    else {
      for (;;) {
        args.push(postfix());
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        expect(')');
        break;
      }
    }
    return { kind: 'call', name: m[0].toLowerCase(), args };
  };
  const postfix = (): Node => {
    let node = primary();
    for (;;) {
      ws();
      if (text[i] === '.') {
        i++;
        const m = /^[A-Za-z_$][A-Za-z0-9_$]*/.exec(text.slice(i));
        if (!m) throw new Error(`bad property at ${i} in ${text}`);
        i += m[0].length;
        node = { kind: 'property', target: node, name: m[0] };
      } else if (text[i] === '[') {
        i++;
        const index = postfix();
        expect(']');
        node = { kind: 'index', target: node, index };
      } else return node;
    }
  };
  const node = postfix();
  ws();
  if (i !== text.length) throw new Error(`trailing text at ${i} in ${text}`);
  return node;
}

// --- evaluation ---

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Placeholder);
const text = (v: unknown): string => (v instanceof Placeholder ? v.toString() : typeof v === 'string' ? v : JSON.stringify(v));
const hash = (...parts: unknown[]) => createHash('sha256').update(parts.map(text).join('|')).digest('hex');

/** Fixed values for the deployment context, as in the public cloud. */
const CONTEXT = {
  subscription: { id: '/subscriptions/00000000-0000-0000-0000-000000000000', subscriptionId: '00000000-0000-0000-0000-000000000000', tenantId: '00000000-0000-0000-0000-0000000000aa' },
  resourceGroup: { id: '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-test', name: 'rg-test', location: 'swedencentral' },
  environment: {
    name: 'AzureCloud',
    authentication: { loginEndpoint: 'https://login.microsoftonline.com/' },
    suffixes: { storage: 'core.windows.net', keyvaultDns: '.vault.azure.net' },
  },
};

function access(target: unknown, key: string | number): unknown {
  if (target instanceof Placeholder) return new Placeholder([...target.path, String(key)]);
  if (Array.isArray(target) && typeof key === 'number') return target[key];
  if (isObject(target)) {
    const k = Object.keys(target).find((name) => name.toLowerCase() === String(key).toLowerCase());
    if (k === undefined) throw new Error(`no property "${key}" in ${JSON.stringify(target).slice(0, 200)}`);
    return target[k];
  }
  throw new Error(`cannot read "${key}" of ${text(target)}`);
}

function call(name: string, rawArgs: Node[], scope: Scope): unknown {
  // `if` evaluates only the branch it takes, as ARM does.
  if (name === 'if') {
    const [c, a, b] = rawArgs;
    if (!c || !a || !b) throw new Error('if needs 3 arguments');
    return run(c, scope) === true ? run(a, scope) : run(b, scope);
  }
  const args = rawArgs.map((a) => run(a, scope));
  const [a0, a1, a2] = args;
  switch (name) {
    case 'parameters':
      return scope.parameter(String(a0));
    case 'variables':
      return scope.variable(String(a0));
    case 'copyindex':
      if (scope.copyIndex === undefined) throw new Error('copyIndex() outside a copy loop');
      return scope.copyIndex + (typeof a0 === 'number' ? a0 : 0);
    case 'reference': {
      const module = /\/providers\/Microsoft\.Resources\/deployments\/([^/]+)$/i.exec(text(a0));
      const outputs = module?.[1] ? scope.deploymentOutputs?.(module[1]) : undefined;
      return outputs ? { outputs } : new Placeholder([]);
    }
    case 'resourceid': {
      const strings = args.map(text);
      const typeAt = strings.findIndex((s) => s.includes('/'));
      const [namespace, ...types] = (strings[typeAt] ?? '').split('/');
      const names = strings.slice(typeAt + 1);
      return `${CONTEXT.resourceGroup.id}/providers/${namespace}/${types.map((t, i) => `${t}/${names[i] ?? ''}`).join('/')}`;
    }
    case 'subscriptionresourceid':
      return `${CONTEXT.subscription.id}/providers/${text(a0)}/${args.slice(1).map(text).join('/')}`;
    case 'subscription':
      return CONTEXT.subscription;
    case 'resourcegroup':
      return CONTEXT.resourceGroup;
    case 'environment':
      return CONTEXT.environment;
    case 'deployment':
      return { name: 'main' };
    case 'tenant':
      return { tenantId: CONTEXT.subscription.tenantId };
    case 'uniquestring':
      return hash(...args).slice(0, 13);
    case 'guid': {
      const h = hash(...args);
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
    }
    case 'format':
      return text(a0).replace(/\{(\d+)\}/g, (_, n: string) => text(args[Number(n) + 1]));
    case 'concat':
      return args.every(Array.isArray) ? args.flat() : args.map(text).join('');
    case 'union':
      return args.every(Array.isArray) ? [...new Set(args.flat())] : Object.assign({}, ...args.map((a) => (isObject(a) ? a : {})));
    case 'createobject': {
      const o: Json = {};
      for (let i = 0; i < args.length; i += 2) o[text(args[i])] = args[i + 1];
      return o;
    }
    case 'createarray':
      return args;
    case 'equals':
      return a0 instanceof Placeholder || a1 instanceof Placeholder ? text(a0) === text(a1) : JSON.stringify(a0) === JSON.stringify(a1);
    case 'not':
      return a0 !== true;
    case 'and':
      return args.every((a) => a === true);
    case 'or':
      return args.some((a) => a === true);
    case 'true':
      return true;
    case 'false':
      return false;
    case 'null':
      return null;
    case 'empty':
      return a0 === null || a0 === undefined || a0 === '' || (Array.isArray(a0) && a0.length === 0) || (isObject(a0) && Object.keys(a0).length === 0);
    case 'greater':
      return Number(a0) > Number(a1);
    case 'greaterorequals':
      return Number(a0) >= Number(a1);
    case 'less':
      return Number(a0) < Number(a1);
    case 'length':
      return Array.isArray(a0) ? a0.length : isObject(a0) ? Object.keys(a0).length : text(a0).length;
    case 'tolower':
      return text(a0).toLowerCase();
    case 'toupper':
      return text(a0).toUpperCase();
    case 'replace':
      return text(a0).split(text(a1)).join(text(a2));
    case 'take':
      return Array.isArray(a0) ? a0.slice(0, Number(a1)) : text(a0).slice(0, Number(a1));
    case 'split':
      return text(a0).split(text(a1));
    case 'substring':
      return text(a0).substring(Number(a1), a2 === undefined ? undefined : Number(a1) + Number(a2));
    case 'endswith':
      return text(a0).endsWith(text(a1));
    case 'startswith':
      return text(a0).startsWith(text(a1));
    case 'contains':
      return Array.isArray(a0) ? a0.includes(a1) : isObject(a0) ? text(a1) in a0 : text(a0).includes(text(a1));
    case 'coalesce':
      return args.find((a) => a !== null && a !== undefined) ?? null;
    case 'string':
      return text(a0);
    case 'int':
      return Number(a0);
    case 'bool':
      return a0 === true || a0 === 'true';
    case 'first':
      return Array.isArray(a0) ? a0[0] : text(a0)[0];
    case 'last':
      return Array.isArray(a0) ? a0[a0.length - 1] : text(a0).slice(-1);
    default:
      throw new Error(`ARM function ${name}() is not supported by tests/infra/arm-expressions.ts`);
  }
}

function run(node: Node, scope: Scope): unknown {
  switch (node.kind) {
    case 'string':
    case 'number':
      return node.value;
    case 'call':
      return call(node.name, node.args, scope);
    case 'property':
      return access(run(node.target, scope), node.name);
    case 'index': {
      const index = run(node.index, scope);
      return access(run(node.target, scope), typeof index === 'number' ? index : text(index));
    }
  }
}

/** Evaluates every expression string in `value` (deeply); `[[` escapes stay literal. */
export function evaluate(value: unknown, scope: Scope): unknown {
  if (typeof value === 'string') {
    if (value.startsWith('[[')) return value.slice(1);
    if (value.startsWith('[') && value.endsWith(']')) return run(parse(value.slice(1, -1)), scope);
    return value;
  }
  if (Array.isArray(value)) return value.map((v) => evaluate(v, scope));
  if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, evaluate(v, scope)]));
  return value;
}

/** Placeholders rendered as strings, deeply. */
export function render(value: unknown): unknown {
  if (value instanceof Placeholder) return value.toString();
  if (Array.isArray(value)) return value.map(render);
  if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, render(v)]));
  return value;
}

/** The scope of a template deployed with `values` for its parameters (defaults fill the rest). */
export function templateScope(template: Json, values: Record<string, unknown>, copyIndex?: number, modules?: ModuleOutputs): Scope {
  const params = (template.parameters ?? {}) as Record<string, { defaultValue?: unknown }>;
  const vars = (template.variables ?? {}) as Json;
  const paramCache = new Map<string, unknown>();
  const varCache = new Map<string, unknown>();
  const scope: Scope = {
    parameter(name) {
      if (!paramCache.has(name)) {
        if (name in values) paramCache.set(name, values[name]);
        else if (params[name] && 'defaultValue' in params[name]) paramCache.set(name, evaluate(params[name].defaultValue, scope));
        else throw new Error(`parameter ${name} has no value and no default`);
      }
      return paramCache.get(name);
    },
    variable(name) {
      if (!varCache.has(name)) {
        if (!(name in vars)) throw new Error(`no variable ${name}`);
        if (name === 'copy') throw new Error('variable copy loops are not supported');
        varCache.set(name, evaluate(vars[name], scope));
      }
      return varCache.get(name);
    },
    ...(copyIndex === undefined ? {} : { copyIndex }),
    ...(modules ? { deploymentOutputs: (name: string) => modules.get(name)?.() } : {}),
  };
  return scope;
}

type ModuleOutputs = Map<string, () => Json>;

function resourceList(template: Json): Json[] {
  const resources = template.resources as Json[] | Json;
  return Array.isArray(resources) ? resources : (Object.values(resources) as Json[]);
}

/** The parameter values a module resource passes to its template. */
function moduleValues(resource: Json, scope: Scope): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const [key, entry] of Object.entries(((resource.properties as Json).parameters ?? {}) as Json)) {
    const evaluated = evaluate(entry, scope);
    values[key] = isObject(evaluated) ? evaluated.value : evaluated;
  }
  return values;
}

/**
 * Lazily evaluated outputs of every (non-loop) module in `template`: a value known before the
 * deployment (a container name) is kept; a runtime value becomes a Placeholder named after the
 * output (`blobEndpoint`), since its own name (`primaryEndpoints.blob`) says less.
 */
function moduleOutputs(template: Json, values: Record<string, unknown>): ModuleOutputs {
  const modules: ModuleOutputs = new Map();
  const scope = templateScope(template, values, undefined, modules);
  for (const resource of resourceList(template)) {
    if (resource.type !== 'Microsoft.Resources/deployments' || resource.copy) continue;
    const name = text(evaluate(resource.name, scope));
    let cached: Json | undefined;
    modules.set(name, () => {
      if (cached) return cached;
      const inner = (resource.properties as Json).template as Json;
      const innerValues = moduleValues(resource, scope);
      const innerScope = templateScope(inner, innerValues, undefined, moduleOutputs(inner, innerValues));
      const outputs: Json = {};
      for (const [key, output] of Object.entries((inner.outputs ?? {}) as Record<string, Json>)) {
        let value: unknown;
        try {
          value = evaluate(output.value, innerScope);
        } catch {
          value = undefined;
        }
        outputs[key] = { value: value === undefined || value instanceof Placeholder ? new Placeholder(['outputs', key, 'value']) : value };
      }
      cached = outputs;
      return outputs;
    });
  }
  return modules;
}

export interface DeployedResource {
  type: string;
  apiVersion: string;
  /** Full name as deployed (`site/appsettings` for child resources). */
  name: string;
  /** Evaluated resource body (properties, sku, tags, scope, ...). */
  body: Json;
  /** Module (nested deployment) names from the top, e.g. ['function-app']. */
  modulePath: string[];
}

/**
 * Every resource one deployment of `template` creates, modules expanded, conditions and copy
 * loops applied.
 */
export function deployedResources(template: Json, values: Record<string, unknown>, modulePath: string[] = []): DeployedResource[] {
  const out: DeployedResource[] = [];
  const modules = moduleOutputs(template, values);
  for (const resource of resourceList(template)) {
    if (resource.existing === true) continue;
    const copy = resource.copy as { count: unknown } | undefined;
    const count = copy ? Number(evaluate(copy.count, templateScope(template, values, undefined, modules))) : 1;
    for (let i = 0; i < count; i++) {
      const scope = templateScope(template, values, copy ? i : undefined, modules);
      if ('condition' in resource && evaluate(resource.condition, scope) !== true) continue;
      const type = String(resource.type);
      const name = text(evaluate(resource.name, scope));
      if (type === 'Microsoft.Resources/deployments') {
        const inner = (resource.properties as Json).template as Json;
        out.push(...deployedResources(inner, moduleValues(resource, scope), [...modulePath, name]));
        continue;
      }
      const body: Json = {};
      for (const [key, value] of Object.entries(resource)) {
        if (['type', 'apiVersion', 'name', 'condition', 'copy', 'dependsOn'].includes(key)) continue;
        body[key] = evaluate(value, scope);
      }
      out.push({ type, apiVersion: String(resource.apiVersion), name, body, modulePath });
    }
  }
  return out;
}

/** The top-level outputs of one deployment, evaluated. */
export function deployedOutputs(template: Json, values: Record<string, unknown>): Record<string, unknown> {
  const scope = templateScope(template, values, undefined, moduleOutputs(template, values));
  return Object.fromEntries(Object.entries((template.outputs ?? {}) as Record<string, Json>).map(([k, o]) => [k, render(evaluate(o.value, scope))]));
}

/** `{ name: value }` from an ARM parameters file. */
export function parameterValues(parametersFile: Json): Record<string, unknown> {
  const params = (parametersFile.parameters ?? {}) as Record<string, { value?: unknown }>;
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [k, v.value]));
}
