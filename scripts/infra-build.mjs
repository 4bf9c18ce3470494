// `npm run infra:build`: compiles infra/main.bicep and every infra/env/*.bicepparam with the real
// Bicep compiler, lints them, and fails on any error or warning. Output: dist/infra/ (main.json,
// <env>.parameters.json), which tests/infra and `npm run package:managed-app` reuse.
//
// --if-available: when no compiler can be found, say so and exit 0 (`npm test` on a machine
// without one), and reuse a clean, linted build of the same sources. Without it (CI,
// `.ci/run`), a missing compiler is a failure.

import { compileInfra, CompileError, languageVersionOf, lintedBuildIsCurrent, locateBicep, writeCompiled } from './bicep-cli.mjs';

const ifAvailable = process.argv.includes('--if-available');
const log = (/** @type {string} */ line) => console.log(`infra:build: ${line}`);

// `npm test` right after `npm run infra:build` (as .ci/run does) need not compile twice.
if (ifAvailable && lintedBuildIsCurrent()) {
  log('dist/infra is a clean, linted build of the current infra/ sources; not rebuilding.');
  process.exit(0);
}

const cli = locateBicep({ log });
if ('missing' in cli) {
  if (ifAvailable) {
    log(`SKIPPED: no Bicep compiler found (${cli.missing}). The infra tests skip too; CI (.ci/run) fails in this case.`);
    process.exit(0);
  }
  console.error(`infra:build: FAILED: no Bicep compiler found (${cli.missing}).`);
  process.exit(1);
}
log(`using ${cli.version} (${cli.source})`);

try {
  const compiled = compileInfra(cli, { lint: true });
  for (const line of compiled.info) console.log(line);
  const problems = [...compiled.diagnostics];
  const languageVersion = languageVersionOf(compiled.template);
  if (languageVersion !== '1.0') {
    problems.push({
      severity: 'Error',
      text: `main.bicep compiles to ARM languageVersion ${languageVersion}; managed applications need 1.0 (avoid user-defined types and unnamed modules)`,
    });
  }
  writeCompiled(compiled, { clean: problems.length === 0, linted: true });
  if (problems.length > 0) {
    for (const p of problems) console.error(p.text);
    console.error(`infra:build: FAILED: ${problems.length} error(s)/warning(s).`);
    process.exit(1);
  }
  log('main.bicep and dev/staging/prod parameters build and lint clean; output in dist/infra/');
} catch (error) {
  console.error(error instanceof CompileError ? error.message : error);
  console.error('infra:build: FAILED');
  process.exit(1);
}
