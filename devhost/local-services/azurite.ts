import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Starts Azurite's blob service, and with `queue` its queue service too (the real Azure Storage
 * emulator, npm `azurite`; each service is its own process) on loopback, with telemetry and the
 * API-version check off. In memory for tests; on disk under `location` otherwise.
 *
 * With `survivesParent` (what `npm start` uses), Azurite runs in a process group of its own and
 * is recorded in `<location>/azurite.pid`: a `kill -9` of `npm start` (even of its whole process
 * group) does not take it down, so blobs the orchestration has already relied on are not lost
 * with it (Azurite saves its blob index only every 5 s, while the devhost's SQLite commits at
 * once). The next `npm start` finds it by the pid file and uses it again; a graceful stop
 * (Ctrl+C, SIGTERM) stops it, and it saves its index then.
 */
export interface AzuriteHandle {
  blobEndpoint: string;
  /** Set when the queue service was asked for (`queue` option). */
  queueEndpoint?: string;
  /** A connection string for this instance (Azurite's published development account), naming each service started. */
  connectionString: string;
  /** True when an Azurite left running by an earlier `npm start` was taken over. */
  reused: boolean;
  stop(): Promise<void>;
}

export interface AzuriteOptions {
  /** 0 (default): any free port. `survivesParent` needs a fixed port. */
  port?: number;
  /** Folder for Azurite's files; omitted: in memory. */
  location?: string;
  /** Run detached and reuse a running one (see above). Needs `location` and a fixed `port`. */
  survivesParent?: boolean;
  /** Start the queue service too, on `queue.port` (0 or omitted: any free port; `survivesParent` needs a fixed one). */
  queue?: boolean | { port?: number };
}

type AzuriteService = 'blob' | 'queue';

// Azurite's fixed development account and key, published in Microsoft's Azurite documentation.
// It only opens the local emulator; it is not a credential for any Azure resource.
const DEV_ACCOUNT = 'devstoreaccount1';
const DEV_ACCOUNT_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export function azuriteConnectionString(blobEndpoint: string, queueEndpoint?: string): string {
  const queue = queueEndpoint ? `QueueEndpoint=${queueEndpoint}/${DEV_ACCOUNT};` : '';
  return `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${DEV_ACCOUNT_KEY};BlobEndpoint=${blobEndpoint}/${DEV_ACCOUNT};${queue}`;
}

/**
 * `--import` of azurite-loki-lookup.js, which makes Azurite's point lookups use their index, so
 * the cost of one blob does not grow with the number of blobs. Compiled JavaScript only: from
 * source (tests) the built copy in dist-dev is used when there is one, else Azurite runs as is.
 */
function lookupPreload(): string[] {
  const candidates = [
    join(import.meta.dirname, 'azurite-loki-lookup.js'),
    join(import.meta.dirname, '..', '..', 'dist-dev', 'devhost', 'local-services', 'azurite-loki-lookup.js'),
  ];
  const file = candidates.find((candidate) => existsSync(candidate));
  return file === undefined ? [] : ['--import', pathToFileURL(file).href];
}

function azuriteArgs(port: number, location: string | undefined, service: AzuriteService = 'blob'): string[] {
  const require = createRequire(import.meta.url);
  const pkgDir = dirname(require.resolve('azurite/package.json'));
  const bin = join(pkgDir, 'dist', 'src', service, 'main.js');
  const args = [...lookupPreload(), bin, `--${service}Host`, '127.0.0.1', `--${service}Port`, String(port), '--skipApiVersionCheck', '--disableTelemetry', '--silent', '--loose'];
  if (location) {
    mkdirSync(location, { recursive: true });
    args.push('--location', location);
  } else {
    args.push('--inMemoryPersistence');
  }
  return args;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** True when something answers HTTP at the endpoint the way Azurite's blob (or queue) service does. */
async function answers(endpoint: string): Promise<boolean> {
  try {
    const res = await fetch(`${endpoint}/${DEV_ACCOUNT}?comp=list`, { signal: AbortSignal.timeout(1_000) });
    await res.arrayBuffer();
    return res.headers.get('server')?.includes('Azurite') === true || res.headers.has('x-ms-request-id');
  } catch {
    return false;
  }
}

interface PidRecord {
  pid: number;
  port: number;
  location: string;
}

async function stopPid(pid: number, pidFile: string): Promise<void> {
  if (alive(pid)) process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 200 && alive(pid); i += 1) await sleep(50);
  if (alive(pid)) process.kill(pid, 'SIGKILL');
  rmSync(pidFile, { force: true });
}

/** One started (or reused) Azurite service process. */
interface ServiceHandle {
  endpoint: string;
  reused: boolean;
  stop(): Promise<void>;
}

async function startSurvivor(port: number, location: string, service: AzuriteService): Promise<ServiceHandle> {
  // The blob service keeps the file names it always had, so an earlier npm start's Azurite is found.
  const suffix = service === 'blob' ? '' : `-${service}`;
  const pidFile = join(location, `azurite${suffix}.pid`);
  const logFile = join(location, `azurite${suffix}.log`);
  const endpoint = `http://127.0.0.1:${port}`;
  const handle = (pid: number, reused: boolean): ServiceHandle => ({ endpoint, reused, stop: () => stopPid(pid, pidFile) });
  if (existsSync(pidFile)) {
    let record: Partial<PidRecord> = {};
    try {
      record = JSON.parse(readFileSync(pidFile, 'utf8')) as PidRecord;
    } catch {
      // Unreadable: treated as no record (a fresh Azurite is started below).
    }
    if (
      typeof record.pid === 'number' &&
      typeof record.location === 'string' &&
      record.port === port &&
      resolve(record.location) === resolve(location) &&
      alive(record.pid) &&
      (await answers(endpoint))
    ) {
      return handle(record.pid, true);
    }
    rmSync(pidFile, { force: true });
  }
  // Something already answers on the port (another Azurite, or one whose record was lost): using
  // it would mean someone else's data, so refuse plainly instead.
  if (await answers(endpoint)) {
    throw new Error(`port ${port} already serves a ${service} endpoint that is not this checkout's Azurite; stop it or set AZURITE_${service.toUpperCase()}_PORT`);
  }
  mkdirSync(location, { recursive: true });
  const log = openSync(logFile, 'a');
  const child = spawn(process.execPath, azuriteArgs(port, location, service), { detached: true, stdio: ['ignore', log, log] });
  closeSync(log);
  const pid = child.pid;
  if (pid === undefined) throw new Error('Azurite did not start (no pid)');
  let exitCode: number | null = null;
  child.once('exit', (code) => (exitCode = code ?? -1));
  child.unref();
  for (let i = 0; i < 600; i += 1) {
    if (exitCode !== null) throw new Error(`Azurite exited with ${exitCode}; see ${logFile} (is port ${port} taken?)`);
    // Our child must still be the one answering (not a process that held the port all along).
    if ((await answers(endpoint)) && exitCode === null && alive(pid)) {
      writeFileSync(pidFile, JSON.stringify({ pid, port, location } satisfies PidRecord));
      return handle(pid, false);
    }
    await sleep(50);
  }
  await stopPid(pid, pidFile);
  throw new Error(`Azurite did not answer on ${endpoint} within 30 s`);
}

async function startChild(port: number, location: string | undefined, service: AzuriteService): Promise<ServiceHandle> {
  const child: ChildProcess = spawn(process.execPath, azuriteArgs(port, location, service), { stdio: ['ignore', 'pipe', 'pipe'] });
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
    endpoint,
    reused: false,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

export async function startAzurite(options: AzuriteOptions = {}): Promise<AzuriteHandle> {
  const queuePort = typeof options.queue === 'object' ? (options.queue.port ?? 0) : 0;
  let start: (port: number, service: AzuriteService) => Promise<ServiceHandle>;
  if (options.survivesParent) {
    const { location, port } = options;
    if (!location || !port) throw new Error('an Azurite that survives its parent needs a location and a fixed port');
    if (options.queue && !queuePort) throw new Error('an Azurite queue service that survives its parent needs a fixed queue port');
    start = (p, service) => startSurvivor(p, location, service);
  } else {
    start = (p, service) => startChild(p, options.location, service);
  }
  const blob = await start(options.port ?? 0, 'blob');
  let queue: ServiceHandle | undefined;
  try {
    if (options.queue) queue = await start(queuePort, 'queue');
  } catch (error) {
    if (!blob.reused) await blob.stop();
    throw error;
  }
  return {
    blobEndpoint: blob.endpoint,
    ...(queue ? { queueEndpoint: queue.endpoint } : {}),
    connectionString: azuriteConnectionString(blob.endpoint, queue?.endpoint),
    reused: blob.reused,
    stop: async () => {
      await Promise.all([blob.stop(), queue?.stop()]);
    },
  };
}
