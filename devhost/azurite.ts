import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * Starts Azurite's blob service (the real Azure Storage emulator, npm `azurite`) as a child
 * process on loopback, with telemetry and the API-version check off. In memory for tests; on
 * disk under `location` otherwise.
 */
export interface AzuriteHandle {
  blobEndpoint: string;
  /** A connection string for this instance (Azurite's published development account). */
  connectionString: string;
  stop(): Promise<void>;
}

// Azurite's fixed development account and key, published in Microsoft's Azurite documentation.
// It only opens the local emulator; it is not a credential for any Azure resource.
const DEV_ACCOUNT = 'devstoreaccount1';
const DEV_ACCOUNT_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export function azuriteConnectionString(blobEndpoint: string): string {
  return `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${DEV_ACCOUNT_KEY};BlobEndpoint=${blobEndpoint}/${DEV_ACCOUNT};`;
}

export async function startAzurite(options: { port?: number; location?: string } = {}): Promise<AzuriteHandle> {
  const require = createRequire(import.meta.url);
  const pkgDir = dirname(require.resolve('azurite/package.json'));
  const bin = join(pkgDir, 'dist', 'src', 'blob', 'main.js');
  const args = [bin, '--blobHost', '127.0.0.1', '--blobPort', String(options.port ?? 0), '--skipApiVersionCheck', '--disableTelemetry', '--silent', '--loose'];
  if (options.location) {
    mkdirSync(options.location, { recursive: true });
    args.push('--location', options.location);
  } else {
    args.push('--inMemoryPersistence');
  }
  const child: ChildProcess = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const endpoint = await new Promise<string>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`Azurite did not start:\n${output}`)), 30_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = /listens on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Azurite exited with ${code}:\n${output}`));
    });
  });
  return {
    blobEndpoint: endpoint,
    connectionString: azuriteConnectionString(endpoint),
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
