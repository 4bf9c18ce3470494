#!/usr/bin/env node
/**
 * `npm run -s token -- --tenant contoso --roles Runs.Write`: prints a development access token
 * for the local runs API, signed with the same key the devhost's development issuer publishes
 * (`.devhost/dev-issuer-key.json`, created on first use by whichever starts first).
 *
 * `npm run -s token -- --webhook-secret --tenant contoso --source tickets`: prints the local
 * signing secret of a webhook source (generated into `.devhost/secrets.json` on first use).
 *
 * Settings come from the same parser the app uses (AUTH_AUTHORITY, AUTH_AUDIENCES, the tenant
 * catalog), so the token matches what the local app accepts. Development only.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LocalFileSecretProvider } from '../shared/auth/local-file-secret-provider.js';
import { parseConfig, type AppConfig } from '../shared/config.js';
import { loadTenantCatalogFile } from '../shared/tenancy/tenant-directory.js';
import { localQueueSecret } from './local-queue-secret.js';
import type { Tenant } from '../shared/tenancy/tenant.js';
import { defaultDevIssuerKeyFile, issueDevToken, loadOrCreateDevSigningKey } from '../devhost/local-services/dev-token-issuer.js';

const USAGE = `Usage:
  npm run -s token -- --tenant <id> [--roles Runs.Read,Runs.Write,Runs.Approve] [--scopes <list>]
                      [--user <oid>] [--app <client id>] [--expires-in <seconds>] [--audience <aud>]
                      [--entra-tenant <guid>]
  npm run -s token -- --webhook-secret --tenant <id> --source <name>
  npm run -s token -- --queue-secret --tenant <id>      (signs agent-requests messages, docs/queue.md)

Without --roles or --scopes the token carries the app roles Runs.Read and Runs.Write.
--scopes makes a delegated (user) token; --roles an app-only one.`;

const repoRoot = join(import.meta.dirname, '..', '..');

function fail(message: string): never {
  process.stderr.write(`${message}\n\n${USAGE}\n`);
  process.exit(2);
}

function list(value: string | undefined): string[] {
  return (value ?? '').split(/[,\s]+/).filter(Boolean);
}

function tenantFrom(config: AppConfig, tenantId: string): Tenant {
  if (config.tenantCatalog.kind !== 'file') fail('The tenant catalog is in Blob here; pass --entra-tenant <guid> instead of looking it up.');
  const tenant = loadTenantCatalogFile(config.tenantCatalog.path).find(tenantId);
  if (!tenant) fail(`No tenant "${tenantId}" in ${config.tenantCatalog.path}.`);
  return tenant;
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        tenant: { type: 'string' },
        roles: { type: 'string' },
        scopes: { type: 'string' },
        user: { type: 'string' },
        app: { type: 'string' },
        'expires-in': { type: 'string', default: '3600' },
        audience: { type: 'string' },
        'entra-tenant': { type: 'string' },
        'webhook-secret': { type: 'boolean', default: false },
        'queue-secret': { type: 'boolean', default: false },
        source: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (error) {
    fail((error as Error).message);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const config = parseConfig(process.env);

  if (values['webhook-secret']) {
    if (!values.tenant || !values.source) fail('--webhook-secret needs --tenant and --source.');
    if (config.secrets.kind !== 'local-file') fail('Secrets are in Key Vault here; read them there.');
    const source = tenantFrom(config, values.tenant).webhookSources[values.source];
    if (!source) fail(`Tenant "${values.tenant}" has no webhook source "${values.source}".`);
    process.stdout.write(`${new LocalFileSecretProvider(config.secrets.path).getOrCreate(source.secretRef)}\n`);
    return;
  }

  if (values['queue-secret']) {
    if (!values.tenant) fail('--queue-secret needs --tenant.');
    try {
      process.stdout.write(`${localQueueSecret(config, values.tenant)}\n`);
    } catch (error) {
      fail((error as Error).message);
    }
    return;
  }

  let entraTenantId = values['entra-tenant']?.toLowerCase();
  if (!entraTenantId) {
    if (!values.tenant) fail('Pass --tenant <id> (or --entra-tenant <guid>).');
    entraTenantId = tenantFrom(config, values.tenant).entraTenantIds[0];
    if (!entraTenantId) fail(`Tenant "${values.tenant}" has no entraTenantIds.`);
  }
  const expiresIn = Number(values['expires-in']);
  if (!Number.isInteger(expiresIn) || expiresIn <= 0 || expiresIn > 24 * 3600) fail('--expires-in must be 1..86400 seconds.');
  const scopes = list(values.scopes);
  const roles = values.roles === undefined && scopes.length === 0 ? ['Runs.Read', 'Runs.Write'] : list(values.roles);

  const key = await loadOrCreateDevSigningKey(defaultDevIssuerKeyFile(repoRoot));
  const token = await issueDevToken(key, {
    authority: config.auth.authority,
    entraTenantId,
    audience: values.audience ?? config.auth.audiences[0] ?? '',
    roles,
    scopes,
    expiresInSeconds: expiresIn,
    ...(values.user ? { objectId: values.user } : {}),
    ...(values.app ? { clientAppId: values.app } : {}),
  });
  process.stderr.write(`development token for ${entraTenantId} (issuer ${config.auth.authority}), roles=[${roles.join(',')}] scopes=[${scopes.join(',')}], ${expiresIn}s\n`);
  process.stdout.write(`${token}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`token: ${(error as Error)?.message ?? String(error)}\n`);
  process.exit(1);
});
