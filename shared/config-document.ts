import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';

/**
 * Configuration-like documents (tenant catalog and records, schedules, agent definitions): YAML
 * or JSON text, validated with zod, every problem listed at once as `where: path: message` so an
 * operator can fix a file in one pass.
 */

/** `where: path: message` lines for zod issues. */
export function describeIssues(where: string, issues: readonly { path: readonly PropertyKey[]; message: string }[]): string[] {
  return issues.map((i) => `${where}: ${i.path.map(String).join('.') || '(root)'}: ${i.message}`);
}

/** Parses `text` (YAML or JSON) and validates it with `schema`; on any problem throws `fail(problems)`. */
export function parseDocument<S extends z.ZodType>(text: string, where: string, schema: S, fail: (problems: string[]) => Error): z.output<S> {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    throw fail([`${where} is not valid YAML: ${(error as Error).message}`]);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw fail(describeIssues(where, parsed.error.issues));
  return parsed.data;
}

/** One problem per id that appears more than once, e.g. `tenants.yaml: tenant "acme" is defined twice`. */
export function duplicateIdProblems(ids: readonly string[], where: string, kind: string): string[] {
  const seen = new Set<string>();
  const problems: string[] = [];
  for (const id of ids) {
    if (seen.has(id)) problems.push(`${where}: ${kind} "${id}" is defined twice`);
    seen.add(id);
  }
  return problems;
}
