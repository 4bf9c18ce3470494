import { spawn, type ChildProcess } from 'node:child_process';
import { basename, join } from 'node:path';

/**
 * The repository root, whether this runs compiled (`dist-dev/devhost/cli/`, see tsconfig.dev.json)
 * or from source (`devhost/cli/`).
 */
export const repoRoot = basename(join(import.meta.dirname, '..', '..')) === 'dist-dev' ? join(import.meta.dirname, '..', '..', '..') : join(import.meta.dirname, '..', '..');

/** The compiled devhost CLI that `spawnDevhost` runs (built by `npm run build`, tsconfig.dev.json). */
export const devhostCliPath = join(repoRoot, 'dist-dev', 'devhost', 'cli', 'cli.js');

export interface SpawnedDevhost {
  url: string;
  child: ChildProcess;
  /** Everything the process printed so far (stdout and stderr). */
  output(): string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait for exit: no cleanup runs. */
  kill(): Promise<void>;
}

/**
 * Starts the compiled devhost CLI (`dist-dev/devhost/cli/cli.js`, so `npm run build` first) as a child
 * process on a free port and resolves once it prints its URL. For tests and benchmarks.
 */
export function spawnDevhost(args: string[], env: NodeJS.ProcessEnv = {}): Promise<SpawnedDevhost> {
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', devhostCliPath, '--port', '0', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`devhost did not start in time:\n${output}`)), 20_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = /devhost listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve({
          url: match[1],
          child,
          output: () => output,
          stop: async () => {
            child.kill('SIGTERM');
            return exited;
          },
          kill: async () => {
            child.kill('SIGKILL');
            await exited;
          },
        });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`devhost exited with ${code} before listening:\n${output}`));
    });
  });
}
