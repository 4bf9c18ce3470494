import { cpSync, mkdtempSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, isAbsolute, join } from 'node:path';
import { repoRoot, spawnDevhost, type SpawnedDevhost } from '../helpers/spawn-devhost.js';

/**
 * Conformance tests (issue 13): small fixture apps, written here, run through the devhost with
 * several pinned versions of `@azure/functions`, to show the devhost behaves as the real host
 * does whatever library version an app ships with.
 *
 * The versions are npm aliases in package.json devDependencies (`@azure/functions-v4.3` is
 * `npm:@azure/functions@4.3.0`, and so on), so `npm install` fetches them like any dependency.
 * `appWithLibrary` copies a fixture into a temporary folder whose `node_modules/@azure/functions`
 * is a link to one of them: the app imports `@azure/functions` as any app does, and Node resolves
 * the library's own dependencies from where the alias was installed.
 */

export interface LibraryVersion {
  /** How tests name it. */
  label: string;
  /** The installed package (an alias in package.json devDependencies). */
  pkg: string;
}

export const LIBRARY_VERSIONS: readonly LibraryVersion[] = [
  { label: '4.3.0', pkg: '@azure/functions-v4.3' },
  { label: '4.9.0', pkg: '@azure/functions-v4.9' },
  { label: 'current', pkg: '@azure/functions' },
];

export const conformanceFixtures = join(import.meta.dirname, 'fixtures');

/**
 * A copy of `tests/conformance/fixtures/<fixture>` (or of the app folder at `fixture` when it is
 * an absolute path) that imports `library` as `@azure/functions`. Remove it with
 * `rmSync(dir, { recursive: true })`.
 */
export function appWithLibrary(fixture: string, library: LibraryVersion): string {
  const source = isAbsolute(fixture) ? fixture : join(conformanceFixtures, fixture);
  const dir = mkdtempSync(join(tmpdir(), `conformance-${basename(fixture)}-`));
  cpSync(source, dir, { recursive: true });
  mkdirSync(join(dir, 'node_modules', '@azure'), { recursive: true });
  symlinkSync(join(repoRoot, 'node_modules', library.pkg), join(dir, 'node_modules', '@azure', 'functions'), 'dir');
  // Other packages a fixture imports (durable-functions) come from the repository's node_modules.
  symlinkSync(join(repoRoot, 'node_modules', 'durable-functions'), join(dir, 'node_modules', 'durable-functions'), 'dir');
  return dir;
}

export interface HostedFixture extends SpawnedDevhost {
  dir: string;
  /** Stops the devhost and removes the app copy; resolves with the exit code. */
  close(): Promise<number | null>;
}

/** Spawns the compiled devhost CLI on a copy of `fixture` with `library` (in-memory storage unless `args` say otherwise). */
export async function hostFixture(fixture: string, library: LibraryVersion, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<HostedFixture> {
  const dir = appWithLibrary(fixture, library);
  try {
    const host = await spawnDevhost(['--app', dir, ...(args.includes('--storage') ? [] : ['--storage', 'memory']), ...args], env);
    return {
      ...host,
      dir,
      close: async () => {
        const code = await host.stop();
        rmSync(dir, { recursive: true, force: true });
        return code;
      },
    };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/** Resolves once the devhost has printed a line matching `pattern` (event-driven, on its output); rejects if it exits first. */
export function printed(host: SpawnedDevhost, pattern: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = (): boolean => {
      if (!pattern.test(host.output())) return false;
      host.child.stdout?.off('data', onData);
      host.child.stderr?.off('data', onData);
      host.child.off('exit', onExit);
      resolve();
      return true;
    };
    const onData = (): void => void check();
    const onExit = (): void => {
      if (!check()) reject(new Error(`devhost exited before printing ${pattern}:\n${host.output()}`));
    };
    if (check()) return;
    // The helper's own listener appends to output() first: it was attached when the process started.
    host.child.stdout?.on('data', onData);
    host.child.stderr?.on('data', onData);
    host.child.once('exit', onExit);
  });
}
