// Finds the real Bicep compiler and compiles infra/ with it. Shared by `npm run infra:build`,
// `npm run package:managed-app` and tests/infra (plain JavaScript so it runs before `tsc`).
//
// Order: `bicep` on PATH, then `az bicep`, then the NuGet package Azure.Bicep.CommandLine.<rid>
// restored with `dotnet` into a cache folder outside the repository (never node_modules, which
// may be shared between worktrees).

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const INFRA_DIR = join(REPO_ROOT, 'infra');
/** Where `npm run infra:build` writes the compiled ARM JSON; tests reuse it when it is current. */
export const INFRA_OUT_DIR = join(REPO_ROOT, 'dist', 'infra');
export const ENVIRONMENTS = /** @type {const} */ (['dev', 'staging', 'prod']);

/** The compiler version CI pins when it has to restore one. */
export const BICEP_VERSION = '0.49.2';

const RUNTIME_IDS = { 'linux-x64': 'linux-x64', 'linux-arm64': 'linux-arm64', 'darwin-x64': 'osx-x64', 'darwin-arm64': 'osx-arm64', 'win32-x64': 'win-x64' };

/** @param {string} command @param {string[]} args @param {import('node:child_process').SpawnSyncOptions} [options] */
function run(command, args, options = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...options });
  return { status: result.error ? null : result.status, stdout: String(result.stdout ?? ''), stderr: String(result.stderr ?? ''), error: result.error };
}

function cacheRoot() {
  if (process.env.BICEP_CACHE_DIR) return process.env.BICEP_CACHE_DIR;
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'durable-agent-pipeline', 'bicep');
}

/**
 * Restores Azure.Bicep.CommandLine.<rid> with `dotnet restore` of a throwaway project (PackageDownload
 * fetches the package without referencing it) and returns the path of its `bicep` binary.
 * @param {(line: string) => void} log
 * @returns {{ path: string } | { missing: string }}
 */
function restoreFromNuGet(log) {
  const rid = RUNTIME_IDS[/** @type {keyof typeof RUNTIME_IDS} */ (`${process.platform}-${process.arch}`)];
  if (!rid) return { missing: `no Azure.Bicep.CommandLine package for ${process.platform}-${process.arch}` };
  const packageId = `Azure.Bicep.CommandLine.${rid}`;
  const root = join(cacheRoot(), BICEP_VERSION);
  const packages = join(root, 'packages');
  const binary = join(packages, packageId.toLowerCase(), BICEP_VERSION, 'tools', process.platform === 'win32' ? 'bicep.exe' : 'bicep');
  if (!existsSync(binary)) {
    const dotnet = run('dotnet', ['--version']);
    if (dotnet.status !== 0) return { missing: 'no bicep on PATH, no az CLI, and no dotnet SDK to restore the Bicep NuGet package' };
    log(`restoring ${packageId} ${BICEP_VERSION} with dotnet into ${root}`);
    const project = join(root, 'restore', 'bicep-download.csproj');
    mkdirSync(dirname(project), { recursive: true });
    writeFileSync(
      project,
      [
        '<Project Sdk="Microsoft.NET.Sdk">',
        `  <PropertyGroup><TargetFramework>net${dotnet.stdout.trim().split('.').slice(0, 2).join('.')}</TargetFramework></PropertyGroup>`,
        `  <ItemGroup><PackageDownload Include="${packageId}" Version="[${BICEP_VERSION}]" /></ItemGroup>`,
        '</Project>',
        '',
      ].join('\n'),
    );
    const restore = run('dotnet', ['restore', project, '--packages', packages, '--nologo'], { env: { ...process.env, DOTNET_CLI_TELEMETRY_OPTOUT: '1', DOTNET_NOLOGO: '1' } });
    if (restore.status !== 0 || !existsSync(binary)) {
      return { missing: `dotnet restore of ${packageId} ${BICEP_VERSION} failed: ${(restore.stdout + restore.stderr).trim().split('\n').slice(-5).join(' | ')}` };
    }
  }
  // NuGet extracts files without the execute bit.
  if (process.platform !== 'win32') chmodSync(binary, 0o755);
  return { path: binary };
}

/**
 * @typedef {{ kind: 'native' | 'az', command: string, prefix: string[], source: string, version: string }} BicepCli
 * @typedef {{ severity: 'Error' | 'Warning', text: string }} Diagnostic
 */

/**
 * Finds a Bicep compiler. `restore: false` never runs dotnet (nothing is downloaded).
 * @param {{ restore?: boolean, log?: (line: string) => void }} [options]
 * @returns {BicepCli | { missing: string }}
 */
export function locateBicep(options = {}) {
  const log = options.log ?? (() => {});
  const onPath = run('bicep', ['--version']);
  if (onPath.status === 0) return { kind: 'native', command: 'bicep', prefix: [], source: 'PATH', version: onPath.stdout.trim() };
  const az = run('az', ['bicep', 'version', '--only-show-errors']);
  if (az.status === 0) return { kind: 'az', command: 'az', prefix: ['bicep'], source: 'az bicep', version: az.stdout.trim() };
  if (options.restore === false) return { missing: 'no bicep on PATH and no az CLI (NuGet restore not attempted)' };
  const restored = restoreFromNuGet(log);
  if ('missing' in restored) return restored;
  const version = run(restored.path, ['--version']);
  if (version.status !== 0) return { missing: `restored bicep at ${restored.path} does not run: ${version.stderr.trim()}` };
  return { kind: 'native', command: restored.path, prefix: [], source: `NuGet ${restored.path}`, version: version.stdout.trim() };
}

/** Error and warning lines (info lines, such as API-age hints, are reported but never fail). @param {string} stderr @returns {Diagnostic[]} */
export function parseDiagnostics(stderr) {
  /** @type {Diagnostic[]} */
  const found = [];
  for (const line of stderr.split(/\r?\n/)) {
    const match = / : (Error|Warning) /.exec(line);
    if (match) found.push({ severity: /** @type {'Error' | 'Warning'} */ (match[1]), text: line.trim() });
  }
  return found;
}

/**
 * Runs one compiler command. Each start of the compiler costs seconds, so the native CLI gets
 * several files at once through `--pattern` (az bicep has no such option: one file per call).
 * @param {BicepCli} cli @param {'build' | 'build-params' | 'lint'} verb @param {string[]} args
 */
function invoke(cli, verb, args) {
  const result = run(cli.command, [...cli.prefix, verb, ...args], { cwd: REPO_ROOT });
  if (result.status === null) throw new Error(`could not run ${cli.command}: ${result.error?.message ?? 'unknown error'}`);
  return { ...result, diagnostics: parseDiagnostics(result.stderr), info: result.stderr.split(/\r?\n/).filter((l) => / : Info /.test(l)) };
}

/** Every file the compiled output depends on, for the cache key. */
function infraInputs() {
  /** @param {string} dir @returns {string[]} */
  const walk = (dir) =>
    readdirSync(dir)
      .flatMap((name) => {
        const path = join(dir, name);
        return statSync(path).isDirectory() ? walk(path) : [path];
      })
      .filter((path) => /\.(bicep|bicepparam|json)$/.test(path));
  return walk(INFRA_DIR).sort();
}

/** Hash of infra/ sources: compiled output is reused only when this matches. */
export function infraInputsHash() {
  const hash = createHash('sha256');
  for (const file of infraInputs()) hash.update(relative(REPO_ROOT, file)).update('\0').update(readFileSync(file)).update('\0');
  return hash.digest('hex');
}

/**
 * @typedef {{ template: Record<string, unknown>, parameters: Record<string, Record<string, unknown>>, diagnostics: Diagnostic[], info: string[] }} CompiledInfra
 */

/**
 * Builds infra/main.bicep and every infra/env/*.bicepparam; with `lint`, also lints them. Returns
 * the ARM template, each environment's parameters file and every error or warning found.
 * @param {BicepCli} cli
 * @param {{ lint?: boolean }} [options]
 * @returns {CompiledInfra}
 */
export function compileInfra(cli, options = {}) {
  const main = join(INFRA_DIR, 'main.bicep');
  const paramFiles = ENVIRONMENTS.map((env) => join(INFRA_DIR, 'env', `${env}.bicepparam`));
  const fileArg = (/** @type {string} */ file) => (cli.kind === 'az' ? ['--file', file] : [file]);
  /** @type {Diagnostic[]} */
  const diagnostics = [];
  /** @type {string[]} */
  const info = [];
  /** @param {ReturnType<typeof invoke>} result @param {string} what */
  const check = (result, what) => {
    diagnostics.push(...result.diagnostics);
    info.push(...result.info);
    if (result.status !== 0 && (what !== 'lint' || result.diagnostics.length === 0)) throw new CompileError(`bicep ${what} failed`, diagnostics, result.stderr);
  };

  const built = invoke(cli, 'build', [...fileArg(main), '--stdout']);
  check(built, 'build infra/main.bicep');
  const template = JSON.parse(built.stdout);

  /** @type {Record<string, Record<string, unknown>>} */
  const parameters = {};
  /** @param {string} env @param {string} text */
  const addParameters = (env, text) => {
    const out = JSON.parse(text);
    parameters[env] = typeof out.parametersJson === 'string' ? JSON.parse(out.parametersJson) : out;
  };
  if (cli.kind === 'native') {
    const outDir = mkdtempSync(join(tmpdir(), 'bicep-params-'));
    try {
      check(invoke(cli, 'build-params', ['--pattern', 'infra/env/*.bicepparam', '--outdir', outDir]), 'build-params infra/env/*.bicepparam');
      for (const env of ENVIRONMENTS) addParameters(env, readFileSync(join(outDir, `${env}.json`), 'utf8'));
    } finally {
      rmSync(outDir, { recursive: true, force: true });
    }
  } else {
    ENVIRONMENTS.forEach((env, i) => {
      const result = invoke(cli, 'build-params', [...fileArg(/** @type {string} */ (paramFiles[i])), '--stdout']);
      check(result, `build-params infra/env/${env}.bicepparam`);
      addParameters(env, result.stdout);
    });
  }

  if (options.lint) {
    if (cli.kind === 'native') {
      check(invoke(cli, 'lint', ['--pattern', 'infra/**/*.bicep*']), 'lint');
    } else {
      for (const file of [main, ...paramFiles]) check(invoke(cli, 'lint', fileArg(file)), 'lint');
    }
  }
  // Several commands report the same file; keep each line once.
  const unique = [...new Map(diagnostics.map((d) => [d.text, d])).values()];
  return { template, parameters, diagnostics: unique, info: [...new Set(info)] };
}

export class CompileError extends Error {
  /** @param {string} message @param {Diagnostic[]} diagnostics @param {string} output */
  constructor(message, diagnostics, output) {
    super(`${message}\n${output.trim()}`);
    this.name = 'CompileError';
    this.diagnostics = diagnostics;
  }
}

/**
 * Writes the compiled JSON. Only a clean build (`clean: true`) is stamped with the inputs hash,
 * so tests never mistake the output of a failed build for the current one.
 * `linted` records that `bicep lint` ran clean too (infra:build), so it can skip an identical rerun.
 * @param {CompiledInfra} compiled @param {{ clean: boolean, linted?: boolean, outDir?: string }} options
 */
export function writeCompiled(compiled, { clean, linted = false, outDir = INFRA_OUT_DIR }) {
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'main.json'), `${JSON.stringify(compiled.template, null, 2)}\n`);
  for (const [env, params] of Object.entries(compiled.parameters)) {
    writeFileSync(join(outDir, `${env}.parameters.json`), `${JSON.stringify(params, null, 2)}\n`);
  }
  writeFileSync(join(outDir, 'build-info.json'), `${JSON.stringify({ inputsHash: clean ? infraInputsHash() : 'not-clean', linted: clean && linted }, null, 2)}\n`);
}

/** True when dist/infra holds a clean, linted build of the current sources. @param {string} [outDir] */
export function lintedBuildIsCurrent(outDir = INFRA_OUT_DIR) {
  try {
    const info = JSON.parse(readFileSync(join(outDir, 'build-info.json'), 'utf8'));
    return info.linted === true && info.inputsHash === infraInputsHash() && readCompiledIfCurrent(outDir) !== undefined;
  } catch {
    return false;
  }
}

/**
 * The compiled infra when dist/infra was built from the current sources, else undefined.
 * @param {string} [outDir]
 * @returns {{ template: Record<string, unknown>, parameters: Record<string, Record<string, unknown>> } | undefined}
 */
export function readCompiledIfCurrent(outDir = INFRA_OUT_DIR) {
  try {
    const info = JSON.parse(readFileSync(join(outDir, 'build-info.json'), 'utf8'));
    if (info.inputsHash !== infraInputsHash()) return undefined;
    const template = JSON.parse(readFileSync(join(outDir, 'main.json'), 'utf8'));
    /** @type {Record<string, Record<string, unknown>>} */
    const parameters = {};
    for (const env of ENVIRONMENTS) parameters[env] = JSON.parse(readFileSync(join(outDir, `${env}.parameters.json`), 'utf8'));
    return { template, parameters };
  } catch {
    return undefined;
  }
}

/**
 * Managed applications need ARM `languageVersion` 1.0 (absent means 1.0). Bicep emits 2.0 when a
 * template uses features such as user-defined types or modules without a `name`.
 * @param {Record<string, unknown>} template
 */
export function languageVersionOf(template) {
  return typeof template.languageVersion === 'string' ? template.languageVersion : '1.0';
}
