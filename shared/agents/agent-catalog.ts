import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeIssues, parseDocument } from '../config-document.js';
import { NotFoundError, ValidationError, ProblemListError } from '../errors.js';
import { AgentDefinitionSchema, snapshotOf, type AgentDefinition, type AgentSnapshot } from './agent-definition.js';

/** Per-tenant overrides, e.g. from Blob (`tenants/{tenantId}/agents/{agentId}.yaml`). */
export interface AgentOverrideSource {
  /** The tenant's partial definition for this agent, or undefined when it has none. */
  get(tenantId: string, agentId: string): Promise<Record<string, unknown> | undefined>;
}

/** Raised at startup when agent files are invalid; lists every problem in every file. */
export class AgentCatalogError extends ProblemListError {
  override readonly name = 'AgentCatalogError';
  constructor(problems: readonly string[]) {
    super('agent_catalog_invalid', 'Invalid agent definitions', problems);
  }
}

/** Parses YAML or JSON text into a validated definition. Throws {@link ValidationError} listing every problem. */
export function parseAgentDefinition(text: string, where: string): AgentDefinition {
  return parseDocument(text, where, AgentDefinitionSchema, (problems) => new ValidationError(`${where} is not a valid agent definition`, problems));
}

/** Deep-merges plain objects; arrays and scalars from `override` replace. */
function merge(base: unknown, override: unknown): unknown {
  if (override === undefined) return base;
  if (base && override && typeof base === 'object' && typeof override === 'object' && !Array.isArray(base) && !Array.isArray(override)) {
    const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
    for (const [k, v] of Object.entries(override as Record<string, unknown>)) out[k] = merge(out[k], v);
    return out;
  }
  return override;
}

/**
 * The agents a deployment offers: loaded once from a folder of `*.yaml` / `*.json` files, then
 * resolved per run with the tenant's overrides into an immutable {@link AgentSnapshot}.
 */
export class AgentCatalog {
  readonly #agents: ReadonlyMap<string, AgentDefinition>;
  readonly #overrides: AgentOverrideSource | undefined;

  constructor(agents: Iterable<AgentDefinition>, overrides?: AgentOverrideSource) {
    this.#agents = new Map([...agents].map((a) => [a.id, a]));
    this.#overrides = overrides;
  }

  /** Loads every definition in `dir`; throws {@link AgentCatalogError} listing all problems. */
  static fromDirectory(dir: string, overrides?: AgentOverrideSource): AgentCatalog {
    const problems: string[] = [];
    const agents: AgentDefinition[] = [];
    const seen = new Map<string, string>();
    for (const file of readdirSync(dir)
      .filter((f) => /\.(ya?ml|json)$/.test(f))
      .sort()) {
      try {
        const definition = parseAgentDefinition(readFileSync(join(dir, file), 'utf8'), file);
        const previous = seen.get(definition.id);
        if (previous) problems.push(`${file}: agent id "${definition.id}" is also defined in ${previous}`);
        seen.set(definition.id, file);
        agents.push(definition);
      } catch (error) {
        const e = error as ValidationError;
        problems.push(...(e.problems?.length ? e.problems : [e.message]));
      }
    }
    const ids = new Set(agents.map((a) => a.id));
    for (const agent of agents) {
      for (const ref of agent.tools) {
        if ('agent' in ref && !ids.has(ref.agent)) problems.push(`${agent.id}: sub-agent "${ref.agent}" is not defined`);
      }
    }
    if (problems.length > 0) throw new AgentCatalogError(problems);
    return new AgentCatalog(agents, overrides);
  }

  ids(): string[] {
    return [...this.#agents.keys()].sort();
  }

  get(agentId: string): AgentDefinition | undefined {
    return this.#agents.get(agentId);
  }

  /**
   * The snapshot a run of `agentId` for `tenantId` uses: the catalog definition merged with the
   * tenant's override (if any) and validated again. Throws NotFoundError / ValidationError.
   */
  async resolve(tenantId: string, agentId: string): Promise<AgentSnapshot> {
    const base = this.#agents.get(agentId);
    if (!base) throw new NotFoundError(`Agent "${agentId}" does not exist`, 'agent_not_found');
    const override = await this.#overrides?.get(tenantId, agentId);
    if (!override) return snapshotOf(base, 'catalog');
    const merged = AgentDefinitionSchema.safeParse(merge(base, { ...override, id: base.id }));
    if (!merged.success) {
      throw new ValidationError(`Tenant override of agent "${agentId}" is invalid`, describeIssues(`tenant ${tenantId}`, merged.error.issues));
    }
    return snapshotOf(merged.data, `tenant:${tenantId}`);
  }
}
