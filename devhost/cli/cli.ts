#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { AppLoadError } from '../host/app-loader.js';
import { startDevhost } from '../host/host.js';
import type { LogLevel } from '../host/logger.js';

const USAGE = `Usage: devhost --app <folder> [--port <n>] [--storage memory|<file>] [--log-level debug|info|warn|error] [--strict]

Runs an Azure Functions v4 Node app folder locally (HTTP, timers, Service Bus queues, Storage
blobs and queues, Durable). The folder's package.json "main" names the entry files; build
TypeScript apps first. A function the devhost cannot serve is disabled with a warning and the
rest run, as the Functions host does; --strict refuses to start instead, naming every such
function.`;

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        app: { type: 'string', default: '.' },
        port: { type: 'string', default: '7071' },
        storage: { type: 'string' },
        'log-level': { type: 'string', default: 'info' },
        strict: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}\n`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const port = Number(values.port);
  const logLevel = values['log-level'] as LogLevel;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`--port must be an integer between 0 and 65535, got "${values.port}"\n`);
    process.exit(2);
  }
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) {
    process.stderr.write(`--log-level must be debug, info, warn or error, got "${logLevel}"\n`);
    process.exit(2);
  }

  let devhost;
  try {
    devhost = await startDevhost({
      appDir: values.app,
      port,
      logLevel,
      strict: values.strict,
      ...(values.storage ? { storage: values.storage } : {}),
    });
  } catch (error) {
    const message = error instanceof AppLoadError ? error.message : ((error as Error).stack ?? String(error));
    process.stderr.write(`devhost failed to start: ${message}\n`);
    process.exit(1);
  }
  process.stdout.write(`devhost listening on ${devhost.url}\n`);

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`devhost: ${signal}, stopping...\n`);
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    devhost
      .stop()
      .then(() => process.exit(0))
      .catch((error: unknown) => {
        process.stderr.write(`devhost: stop failed: ${String(error)}\n`);
        process.exit(1);
      });
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

void main();
