/**
 * Route templates as Azure Functions HTTP triggers accept them (ASP.NET route syntax):
 * literal segments, `{name}`, optional `{name?}` (trailing segments only), defaults `{name=value}`,
 * constraints `{id:int}` / `{id:int?}` / `{slug:regex(^[a-z]+$)}`, and a final catch-all `{*rest}`.
 * Literals match case-insensitively. Parsing is done once at startup so a bad template stops
 * the host with an error naming the function.
 */

export class RouteTemplateError extends Error {
  override readonly name = 'RouteTemplateError';
}

type Constraint = (value: string) => boolean;

interface ParamPart {
  kind: 'param';
  name: string;
  optional: boolean;
  catchAll: boolean;
  defaultValue: string | undefined;
  constraints: Constraint[];
}

interface LiteralPart {
  kind: 'literal';
  text: string;
}

type Part = ParamPart | LiteralPart;

export interface CompiledRoute {
  template: string;
  /** Lower sorts first: literals beat constrained parameters, which beat plain ones and catch-alls. */
  precedence: number[];
  match(path: string): Record<string, string> | undefined;
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const GUID = /^[{(]?[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}[)}]?$/i;

function numberArgs(name: string, args: string, count: number): number[] {
  const values = args.split(',').map((a) => Number(a.trim()));
  if (values.length !== count || values.some((v) => !Number.isFinite(v))) {
    throw new RouteTemplateError(`constraint "${name}" needs ${count} numeric argument(s), got "${args}"`);
  }
  return values;
}

function buildConstraint(spec: string): Constraint {
  const call = /^([a-zA-Z]+)(?:\((.*)\))?$/s.exec(spec);
  if (!call) throw new RouteTemplateError(`invalid constraint "${spec}"`);
  const name = (call[1] ?? '').toLowerCase();
  const args = call[2];
  const needsArgs = (n: number): number[] => numberArgs(name, args ?? '', n);
  switch (name) {
    case 'int':
      return (v) => /^[+-]?\d+$/.test(v) && Math.abs(Number(v)) <= 2 ** 31;
    case 'long':
      return (v) => /^[+-]?\d+$/.test(v);
    case 'bool':
      return (v) => /^(true|false)$/i.test(v);
    case 'alpha':
      return (v) => /^[a-z]+$/i.test(v);
    case 'guid':
      return (v) => GUID.test(v);
    case 'double':
    case 'float':
    case 'decimal':
      return (v) => NUMBER.test(v);
    case 'datetime':
      return (v) => !Number.isNaN(Date.parse(v));
    case 'min': {
      const [min = 0] = needsArgs(1);
      return (v) => /^[+-]?\d+$/.test(v) && Number(v) >= min;
    }
    case 'max': {
      const [max = 0] = needsArgs(1);
      return (v) => /^[+-]?\d+$/.test(v) && Number(v) <= max;
    }
    case 'range': {
      const [min = 0, max = 0] = needsArgs(2);
      return (v) => /^[+-]?\d+$/.test(v) && Number(v) >= min && Number(v) <= max;
    }
    case 'minlength': {
      const [min = 0] = needsArgs(1);
      return (v) => v.length >= min;
    }
    case 'maxlength': {
      const [max = 0] = needsArgs(1);
      return (v) => v.length <= max;
    }
    case 'length': {
      const parts = (args ?? '').split(',');
      const [min = 0, max = min] = numberArgs(name, args ?? '', parts.length === 2 ? 2 : 1);
      return (v) => v.length >= min && v.length <= max;
    }
    case 'regex': {
      if (args === undefined) throw new RouteTemplateError('constraint "regex" needs a pattern');
      let pattern: RegExp;
      try {
        pattern = new RegExp(args, 'i');
      } catch (error) {
        throw new RouteTemplateError(`invalid regex constraint "${args}": ${(error as Error).message}`);
      }
      return (v) => pattern.test(v);
    }
    default:
      throw new RouteTemplateError(`unknown route constraint "${name}"`);
  }
}

/** Splits `a:b(c:d)` on top-level colons only, so regex arguments may contain colons. */
function splitConstraints(body: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of body) {
    if (ch === '(') depth += 1;
    if (ch === ')') depth -= 1;
    if (ch === ':' && depth === 0) {
      out.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  out.push(current);
  return out;
}

function parseParam(raw: string): ParamPart {
  let body = raw;
  const catchAll = body.startsWith('*');
  if (catchAll) body = body.replace(/^\*+/, '');
  let optional = false;
  if (body.endsWith('?')) {
    optional = true;
    body = body.slice(0, -1);
  }
  let defaultValue: string | undefined;
  const eq = body.indexOf('=');
  if (eq >= 0) {
    defaultValue = body.slice(eq + 1);
    body = body.slice(0, eq);
  }
  const [name = '', ...constraintSpecs] = splitConstraints(body);
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
    throw new RouteTemplateError(`invalid parameter name "${name}" in "{${raw}}"`);
  }
  return {
    kind: 'param',
    name,
    optional: optional || defaultValue !== undefined || catchAll,
    catchAll,
    defaultValue,
    constraints: constraintSpecs.map(buildConstraint),
  };
}

function parseSegment(segment: string): Part[] {
  const parts: Part[] = [];
  let i = 0;
  let literal = '';
  while (i < segment.length) {
    const ch = segment[i];
    if (ch === '{') {
      if (segment[i + 1] === '{') {
        literal += '{';
        i += 2;
        continue;
      }
      // Find the matching close brace, allowing braces inside regex(...) arguments.
      let depth = 0;
      let j = i + 1;
      for (; j < segment.length; j++) {
        const c = segment[j];
        if (c === '(') depth += 1;
        else if (c === ')') depth -= 1;
        else if (c === '}' && depth <= 0) break;
      }
      if (j >= segment.length) throw new RouteTemplateError(`unclosed "{" in segment "${segment}"`);
      if (literal) parts.push({ kind: 'literal', text: literal });
      literal = '';
      // Inside a parameter, doubled braces escape literal ones (regex quantifiers).
      parts.push(
        parseParam(
          segment
            .slice(i + 1, j)
            .replaceAll('{{', '{')
            .replaceAll('}}', '}'),
        ),
      );
      i = j + 1;
    } else if (ch === '}') {
      if (segment[i + 1] === '}') {
        literal += '}';
        i += 2;
        continue;
      }
      throw new RouteTemplateError(`unexpected "}" in segment "${segment}"`);
    } else {
      literal += ch;
      i += 1;
    }
  }
  if (literal) parts.push({ kind: 'literal', text: literal });
  return parts;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Compiles a route template (without the route prefix). Throws {@link RouteTemplateError}. */
export function compileRoute(template: string): CompiledRoute {
  const trimmed = template.replace(/^\/+|\/+$/g, '');
  if (trimmed.includes('?') && !/\{[^}]*\?\}/.test(trimmed)) {
    throw new RouteTemplateError(`route "${template}" must not contain a query string`);
  }
  const segments = trimmed === '' ? [] : trimmed.split('/');
  const params: ParamPart[] = [];
  const precedence: number[] = [];
  let pattern = '^';
  let sawOptional = false;
  segments.forEach((segment, index) => {
    if (segment === '') throw new RouteTemplateError(`route "${template}" has an empty segment`);
    const parts = parseSegment(segment);
    const paramParts = parts.filter((p): p is ParamPart => p.kind === 'param');
    const isLast = index === segments.length - 1;
    for (const p of paramParts) {
      if (params.some((q) => q.name.toLowerCase() === p.name.toLowerCase())) {
        throw new RouteTemplateError(`route "${template}" repeats parameter "${p.name}"`);
      }
      if (p.catchAll && (!isLast || parts.length !== 1)) {
        throw new RouteTemplateError(`catch-all "{*${p.name}}" must be the whole last segment`);
      }
      params.push(p);
    }
    const only = parts.length === 1 ? parts[0] : undefined;
    const segmentOptional = only?.kind === 'param' && only.optional;
    if (sawOptional && !segmentOptional) {
      throw new RouteTemplateError(`route "${template}": only trailing segments may be optional`);
    }
    if (!segmentOptional && paramParts.some((p) => p.optional)) {
      throw new RouteTemplateError(`route "${template}": an optional parameter must be a whole segment`);
    }
    sawOptional ||= segmentOptional;

    let segmentPattern = '';
    for (const part of parts) {
      if (part.kind === 'literal') segmentPattern += escapeRegExp(part.text);
      else segmentPattern += part.catchAll ? '(.*)' : '([^/]+?)';
    }
    pattern += segmentOptional ? `(?:/${segmentPattern})?` : `/${segmentPattern}`;

    if (paramParts.length === 0) precedence.push(1);
    else if (only?.kind === 'param' && only.catchAll) precedence.push(5);
    else if (parts.length > 1) precedence.push(2);
    else precedence.push(only?.kind === 'param' && only.constraints.length > 0 ? 3 : 4);
  });
  pattern += '/?$';
  const regex = new RegExp(pattern, 'i');

  return {
    template,
    precedence,
    match(path: string): Record<string, string> | undefined {
      const m = regex.exec(path.startsWith('/') ? path : `/${path}`);
      if (!m) return undefined;
      const values: Record<string, string> = {};
      for (const [i, p] of params.entries()) {
        const captured = m[i + 1];
        if (captured === undefined || captured === '') {
          if (p.defaultValue !== undefined) values[p.name] = p.defaultValue;
          else if (!p.optional) return undefined;
          continue;
        }
        let value: string;
        try {
          value = p.catchAll ? captured : decodeURIComponent(captured);
        } catch {
          return undefined;
        }
        if (!p.constraints.every((c) => c(value))) return undefined;
        values[p.name] = value;
      }
      return values;
    },
  };
}

/** Orders routes so the most specific template is tried first, as ASP.NET routing does. */
export function compareRoutePrecedence(a: CompiledRoute, b: CompiledRoute): number {
  const length = Math.max(a.precedence.length, b.precedence.length);
  for (let i = 0; i < length; i++) {
    const x = a.precedence[i] ?? 0;
    const y = b.precedence[i] ?? 0;
    if (x !== y) return x - y;
  }
  return b.precedence.length - a.precedence.length;
}
