// `npm run package:function-app`: stages exactly what the Function App runs into
// dist/function-app/, which azure.yaml's `dist` hands to azd to zip and deploy:
//   dist/functions/, dist/shared/   the compiled app (package.json "main" = dist/functions/*.js)
//   agents/                         agent definitions (AGENTS_DIR defaults to it)
//   host.json, package.json, package-lock.json
//   node_modules/                   production dependencies only (npm ci --omit=dev)
// Not shipped: devhost, tests, bench, tools, TypeScript sources, devDependencies, local settings.
// Run `npm run build` first. --no-install stages everything but node_modules (for checks).

import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './bicep-cli.mjs';

export const STAGE_DIR = join(REPO_ROOT, 'dist', 'function-app');
const COMPILED = ['dist/functions', 'dist/shared'];
const FILES = ['host.json', 'package-lock.json'];
const FOLDERS = ['agents'];

for (const dir of COMPILED) {
  if (!existsSync(join(REPO_ROOT, dir))) {
    console.error(`package:function-app: FAILED: ${dir} is missing; run npm run build first`);
    process.exit(1);
  }
}

rmSync(STAGE_DIR, { recursive: true, force: true });
mkdirSync(STAGE_DIR, { recursive: true });
for (const dir of [...COMPILED, ...FOLDERS]) cpSync(join(REPO_ROOT, dir), join(STAGE_DIR, dir), { recursive: true });
for (const file of FILES) cpSync(join(REPO_ROOT, file), join(STAGE_DIR, file));

// package.json without scripts: nothing runs on install in the package, and the devhost and
// bench entry points it names are not shipped. Dependencies stay as they are so the lockfile
// still matches (npm ci refuses a package.json that disagrees with it).
const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8'));
delete pkg.scripts;
writeFileSync(join(STAGE_DIR, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);

if (!process.argv.includes('--no-install')) {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const result = spawnSync(npm, ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: STAGE_DIR, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error('package:function-app: FAILED: npm ci --omit=dev');
    process.exit(1);
  }
}

const shipped = readdirSync(STAGE_DIR).sort();
console.log(`package:function-app: staged ${shipped.join(', ')} in dist/function-app/`);
