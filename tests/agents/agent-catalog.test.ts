import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AgentCatalogError } from '../../shared/agents/agent-catalog.js';
import { AgentCatalog } from '../../shared/agents/agent-catalog.js';
import { renderPrompt } from '../../shared/agents/agent-definition.js';

const shippedAgents = join(import.meta.dirname, '..', '..', 'agents');

describe('agent catalog', () => {
  it('loads the shipped agents', () => {
    const catalog = AgentCatalog.fromDirectory(shippedAgents);
    expect(catalog.ids()).toEqual(expect.arrayContaining(['doc-summarizer', 'support-triage']));
    const triage = catalog.get('support-triage');
    expect(triage?.tools).toContainEqual({ tool: 'send_reply', approval: 'required' });
    expect(triage?.limits.maxTurns).toBe(8);
  });

  it('lists every problem in every bad file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'agents-'));
    writeFileSync(join(dir, 'a.yaml'), 'id: Bad Id\nversion: 0\ndescription: x\nsystemPrompt: y\nmodel: {deployments: []}\n');
    writeFileSync(join(dir, 'b.yaml'), 'id: b\nversion: 1\ndescription: x\nsystemPrompt: y\nmodel: {deployments: [m]}\ntools: [{agent: missing}]\n');
    writeFileSync(join(dir, 'c.yaml'), 'id: [unclosed\n');
    const error = (() => {
      try {
        AgentCatalog.fromDirectory(dir);
      } catch (e) {
        return e as AgentCatalogError;
      }
      return undefined;
    })();
    expect(error?.name).toBe('AgentCatalogError');
    const text = error?.problems.join('\n') ?? '';
    expect(text).toContain('a.yaml: id');
    expect(text).toContain('a.yaml: version');
    expect(text).toContain('a.yaml: model.deployments');
    expect(text).toContain('sub-agent "missing" is not defined');
    expect(text).toContain('c.yaml is not valid YAML');
  });

  it('resolves tenant overrides into a snapshot with a content hash', async () => {
    const overrides = {
      get: async (tenantId: string) => (tenantId === 'contoso' ? { variables: { productName: 'Contoso CRM' }, limits: { maxTurns: 4 } } : undefined),
    };
    const catalog = AgentCatalog.fromDirectory(shippedAgents, overrides);
    const plain = await catalog.resolve('fabrikam', 'support-triage');
    const custom = await catalog.resolve('contoso', 'support-triage');
    expect(plain.source).toBe('catalog');
    expect(custom.source).toBe('tenant:contoso');
    expect(custom.definition.limits.maxTurns).toBe(4);
    expect(custom.definition.limits.toolTimeoutMs).toBe(plain.definition.limits.toolTimeoutMs);
    expect(custom.contentHash).not.toBe(plain.contentHash);
    expect((await catalog.resolve('fabrikam', 'support-triage')).contentHash).toBe(plain.contentHash);
    expect(renderPrompt(custom.definition.systemPrompt, custom.definition.variables)).toContain('Contoso CRM');
    await expect(catalog.resolve('contoso', 'nope')).rejects.toMatchObject({ code: 'agent_not_found', status: 404 });
  });

  it('rejects an invalid tenant override', async () => {
    const catalog = AgentCatalog.fromDirectory(shippedAgents, { get: async () => ({ limits: { maxTurns: -1 } }) });
    await expect(catalog.resolve('contoso', 'support-triage')).rejects.toMatchObject({ name: 'ValidationError' });
  });

  it('refuses unknown prompt variables instead of leaving blanks', () => {
    expect(() => renderPrompt('Hi {{who}}', {})).toThrow('prompt variable "who" has no value');
  });
});
