#!/usr/bin/env node
/**
 * `npm start`: this app on the devhost with its local services — Azurite (blob, persisted in
 * .devhost/azurite, port 10000), the offline model (port 7072) and the Functions app on 7071.
 * Everything here is local-only; see README "What is real and what is local-only".
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startLocalStack } from './local-stack.js';

const root = join(import.meta.dirname, '..', '..');

async function main(): Promise<void> {
  const stack = await startLocalStack({
    appDir: root,
    port: Number(process.env['DEVHOST_PORT'] ?? '7071'),
    storage: join(root, '.devhost', 'devhost.db'),
    logLevel: 'info',
    log: (line) => process.stdout.write(`${line}\n`),
    // Azurite outlives a kill -9 of this process (see devhost/local-services/azurite.ts) and is reused on restart.
    azurite: { port: Number(process.env['AZURITE_BLOB_PORT'] ?? '10000'), location: join(root, '.devhost', 'azurite'), survivesParent: true },
    offlineModelPort: Number(process.env['OFFLINE_MODEL_PORT'] ?? '7072'),
    seed: { documentsDir: join(root, 'samples', 'documents'), tenants: ['contoso', 'fabrikam'] },
  });
  // The offline model's control key is new on every start; tools in another process read it here.
  const offlineKeyFile = join(root, '.devhost', 'offline-model.key');
  mkdirSync(join(root, '.devhost'), { recursive: true });
  writeFileSync(offlineKeyFile, `${stack.offlineModel.controlKey}\n`, { mode: 0o600 });
  process.stdout.write(
    [
      `devhost listening on ${stack.devhost.url}`,
      `  Azurite blob: ${stack.azurite.blobEndpoint}${stack.azurite.reused ? ' (still running from an earlier start: reused)' : ''}`,
      `  offline model (a deterministic stand-in for Azure OpenAI): ${stack.offlineModel.url}`,
      `    its /_offline/* control routes take the key in .devhost/offline-model.key (x-offline-model-key header)`,
      `  development token issuer: ${stack.devIssuer.url}  (npm run -s token -- --tenant contoso --roles Runs.Write)`,
      `  keys in .devhost/keys.json: masterKey for /admin (and the durable API), systemKeys.durabletask_extension for /runtime/webhooks/durabletask`,
      telemetryLine(),
      '',
    ].join('\n'),
  );
  let stopping = false;
  const shutdown = (): void => {
    if (stopping) return;
    stopping = true;
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    stack.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

/**
 * Where the app's telemetry goes (shared/telemetry/README.md): the settings are in the
 * environment by now (the devhost loaded local.settings.json `Values` into it).
 */
function telemetryLine(): string {
  const file = process.env['TELEMETRY_FILE'] ?? '.devhost/telemetry.jsonl';
  const otlp = process.env['OTEL_EXPORTER_OTLP_ENDPOINT'];
  const where = [file ? `${resolve(process.cwd(), file)} (OTLP/JSON lines; README "Telemetry" says how to view it)` : 'no file (TELEMETRY_FILE is empty)'];
  if (otlp) where.push(`OTLP ${process.env['OTEL_EXPORTER_OTLP_PROTOCOL'] ?? 'http/protobuf'} to ${otlp}`);
  return `  telemetry: ${where.join('; ')}`;
}

main().catch((error: unknown) => {
  process.stderr.write(`npm start failed: ${(error as Error)?.message ?? String(error)}\n`);
  process.exit(1);
});
