#!/usr/bin/env node
/**
 * `npm run usage -- --tenant <id> [--from <ISO>] [--to <ISO>] [--granularity hour|day] [--json]`:
 * prints a tenant's usage ledger (shared/usage/) in UTC buckets with totals, as
 * `GET /api/tenants/{id}/usage` answers it. Exit code 0; 2: bad arguments or settings.
 *
 * It reads the data container the app writes, with the app's own settings: the process
 * environment, then `local.settings.json` (locally, Azurite: `npm start`'s default). Against
 * Azure, set STORAGE_BLOB_ACCOUNT_URL and sign in (`az login`): it uses DefaultAzureCredential and
 * needs read access (Storage Blob Data Reader).
 */
import { parseArgs } from 'node:util';
import { TENANT_ID_PATTERN } from '../shared/tenancy/tenant.js';
import { UsageLedger } from '../shared/usage/usage-ledger.js';
import { usageRange, usageReport, type UsageReport } from '../shared/usage/usage-report.js';
import { appBlobStore, appConfigOrFail } from './app-storage.js';

const USAGE = `Usage: npm run usage -- --tenant <id> [--from <ISO time>] [--to <ISO time>] [--granularity hour|day] [--json]`;

function fail(message: string): never {
  process.stderr.write(`${message}\n\n${USAGE}\n`);
  process.exit(2);
}

function table(report: UsageReport): string {
  const dimensions = Object.keys(report.totals).sort();
  const lines = [`Usage of ${report.tenantId}, ${report.from} to ${report.to} (UTC, by ${report.granularity}):`];
  if (report.buckets.length === 0) return `${lines[0]}\n  no usage recorded\n`;
  const header = ['bucket', ...dimensions];
  const rows = [...report.buckets.map((b) => [b.start.slice(0, report.granularity === 'day' ? 10 : 16), ...dimensions.map((d) => String(b.usage[d] ?? 0))])];
  rows.push(['total', ...dimensions.map((d) => String(report.totals[d] ?? 0))]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const format = (cells: string[]) => `  ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ')}`;
  lines.push(format(header), ...rows.map(format), `  total tokens: ${report.totalTokens}`);
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        tenant: { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string' },
        granularity: { type: 'string', default: 'hour' },
        json: { type: 'boolean', default: false },
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
  if (!values.tenant || !TENANT_ID_PATTERN.test(values.tenant)) fail('--tenant <id> is required (a tenant id).');
  if (values.granularity !== 'hour' && values.granularity !== 'day') fail('--granularity must be hour or day.');
  let range;
  try {
    range = usageRange({ from: values.from, to: values.to, granularity: values.granularity }, Date.now());
  } catch (error) {
    fail(`${(error as Error).message} ${((error as { problems?: string[] }).problems ?? []).join('; ')}`);
  }
  const config = appConfigOrFail(fail);
  const store = appBlobStore(config, config.blob.container);
  const report = await usageReport(new UsageLedger(store, { now: () => Date.now(), writeRollups: false }), values.tenant, range);
  process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : table(report));
}

main().catch((error: unknown) => {
  process.stderr.write(`usage failed: ${(error as Error)?.stack ?? String(error)}\n`);
  process.exit(2);
});
