import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { readZip } from '../../scripts/zip-archive.mjs';
import { infra, skipReason, type Json } from './infra-kit.js';

// `npm run package:managed-app` and the package it writes: what Partner Center / the service
// catalog receive for the customer-hosted, single-tenant offer.

/**
 * Resource types whose only GA API version is not the resource we deploy. diagnosticSettings'
 * GA 2016-09-01 is the legacy shape (fixed name "service", no workspace target).
 */
const PREVIEW_ONLY = new Set(['microsoft.insights/diagnosticsettings']);

type Resource = { type: string; apiVersion: string; properties?: Json };

function allResources(template: Json): Resource[] {
  const list = template.resources as Resource[];
  return list.flatMap((r) => (r.type === 'Microsoft.Resources/deployments' ? [r, ...allResources((r.properties as Json).template as Json)] : [r]));
}

/** Every string in `value` with where it sits. */
function strings(value: unknown, path = '$'): { path: string; value: string }[] {
  if (typeof value === 'string') return [{ path, value }];
  if (Array.isArray(value)) return value.flatMap((v, i) => strings(v, `${path}[${i}]`));
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => strings(v, `${path}.${k}`));
  return [];
}

describe.skipIf(!infra)(`managed application package${skipReason ? ` (${skipReason})` : ''}`, () => {
  let files: Map<string, Buffer>;
  let main: Json;
  let ui: { parameters: { outputs: Record<string, unknown>; basics: Json[]; steps: Json[] } };

  beforeAll(() => {
    execFileSync(process.execPath, ['scripts/package-managed-app.mjs'], { stdio: 'pipe' });
    files = readZip(readFileSync('dist/managed-app/app.zip'));
    main = JSON.parse(String(files.get('mainTemplate.json')));
    ui = JSON.parse(String(files.get('createUiDefinition.json')));
  });

  it('app.zip holds mainTemplate.json, createUiDefinition.json and viewDefinition.json at its root', () => {
    expect([...files.keys()].sort()).toEqual(['createUiDefinition.json', 'mainTemplate.json', 'viewDefinition.json']);
    expect(JSON.parse(String(files.get('viewDefinition.json'))).views[0].kind).toBe('Overview');
  });

  it('mainTemplate.json is ARM languageVersion 1.0 (what managed applications accept)', () => {
    expect(main.languageVersion ?? '1.0').toBe('1.0');
    expect(String(main.$schema)).toContain('deploymentTemplate.json');
  });

  it('every createUiDefinition output maps to a template parameter, and every required parameter is filled', () => {
    const params = main.parameters as Record<string, Json>;
    const outputs = ui.parameters.outputs;
    for (const name of Object.keys(outputs)) expect(params, `output ${name}`).toHaveProperty(name);
    for (const [name, p] of Object.entries(params)) {
      if (!('defaultValue' in p)) expect(outputs, `required parameter ${name}`).toHaveProperty(name);
      const allowed = p.allowedValues as unknown[] | undefined;
      const value = outputs[name];
      if (allowed && typeof value !== 'string') continue;
      if (allowed && typeof value === 'string' && !value.startsWith('[')) expect(allowed).toContain(value);
    }
  });

  it('single-tenant, prod-grade: TENANCY_MODE single with a tenant and the Entra tenant that signs in users', () => {
    const o = ui.parameters.outputs;
    expect(o.tenancyMode).toBe('single');
    expect(o.appEnvironment).toBe('prod');
    expect(String(o.singleTenantId)).toMatch(/^\[steps\('identity'\)\./);
    expect(String(o.entraTenantId)).toMatch(/^\[steps\('identity'\)\./);
    expect(String(o.authAudiences)).toMatch(/^\[steps\('identity'\)\./);
    expect(o).toHaveProperty('enablePrivateNetworking');
    expect(o).toHaveProperty('gpt4oMiniCapacity');
    expect(o).toHaveProperty('gpt4oCapacity');
  });

  it('location is a parameter (the customer picks the region), never a literal', () => {
    expect(ui.parameters.outputs.location).toBe('[location()]');
    const params = main.parameters as Record<string, Json>;
    expect(params.location?.type).toBe('string');
    for (const r of allResources(main)) {
      const location = (r as Json).location;
      if (location !== undefined) expect(String(location)).toMatch(/^\[|^global$/);
    }
  });

  it('no hard-coded URI, secret or secure-parameter default in mainTemplate.json', () => {
    for (const { path, value } of strings(main)) {
      if (path === '$.$schema' || path.endsWith('.$schema') || path.startsWith('$.metadata')) continue;
      // A scheme in front of a resolved host (`https://{0}`) is fine; a literal host is not.
      expect(value, path).not.toMatch(/https?:\/\/(?!\{)[a-z0-9]/i);
      expect(value, path).not.toMatch(/AccountKey=|SharedAccessKey|sig=|Password=|BEGIN (RSA )?PRIVATE KEY/i);
    }
    for (const [name, p] of Object.entries(main.parameters as Record<string, Json>)) {
      if (/^secure/i.test(String(p.type))) expect(p.defaultValue, name).toBeUndefined();
    }
  });

  it('no preview API version where a GA one exists', () => {
    for (const r of allResources(main)) {
      if (/preview/i.test(r.apiVersion)) expect(PREVIEW_ONLY.has(r.type.toLowerCase()), `${r.type}@${r.apiVersion}`).toBe(true);
    }
  });
});
