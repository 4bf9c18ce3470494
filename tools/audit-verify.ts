#!/usr/bin/env node
/**
 * `npm run audit:verify -- --tenant <id> [--json]`: recomputes a tenant's audit hash chain
 * (shared/audit/audit-verify.ts) and reports the first record that was changed, removed or
 * inserted, or that records were cut off the end. Exit code 0: the chain holds; 1: it does not
 * (the record is named); 2: bad arguments or settings.
 *
 * It reads the audit container the app writes, with the app's own settings: the process
 * environment, then `local.settings.json` (locally, Azurite: `npm start`'s default). Against
 * Azure, set STORAGE_BLOB_ACCOUNT_URL (and AUDIT_CONTAINER if not `audit`) and sign in
 * (`az login`): it uses DefaultAzureCredential and needs read access (Storage Blob Data Reader).
 */
import { parseArgs } from 'node:util';
import { verifyAuditChain } from '../shared/audit/audit-verify.js';
import { appBlobStore, appConfigOrFail } from './app-storage.js';

const USAGE = `Usage: npm run audit:verify -- --tenant <id> [--json]`;

function fail(message: string): never {
  process.stderr.write(`${message}\n\n${USAGE}\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: { tenant: { type: 'string' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } },
      strict: true,
    }));
  } catch (error) {
    fail((error as Error).message);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (!values.tenant) fail('--tenant is required.');
  const config = appConfigOrFail(fail);
  const store = appBlobStore(config, config.auditContainer);
  const result = await verifyAuditChain(store, values.tenant);
  if (values.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  if (result.problem) {
    if (!values.json) process.stdout.write(`Audit trail of ${result.tenantId}: BROKEN at record ${result.problem.seq} (${result.problem.kind}): ${result.problem.message}\n`);
    process.exitCode = 1;
    return;
  }
  if (!values.json) {
    process.stdout.write(
      `Audit trail of ${result.tenantId}: ${result.records} records, chain intact, head ${result.head.seq} ${result.head.hash}; ${result.digests} digest(s) checked.\n`,
    );
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`audit:verify failed: ${(error as Error)?.stack ?? String(error)}\n`);
  process.exit(2);
});
