// `npm run package:managed-app`: writes dist/managed-app/app.zip, the package of the Azure
// Managed Application (customer-hosted, single-tenant) offer:
//   mainTemplate.json        infra/main.bicep compiled by the real compiler (ARM languageVersion 1.0)
//   createUiDefinition.json  infra/managed-app/createUiDefinition.json (what the customer fills in)
//   viewDefinition.json      infra/managed-app/viewDefinition.json (the installation's overview page)
// Reuses dist/infra when `npm run infra:build` produced it from the current sources.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileInfra, INFRA_DIR, languageVersionOf, locateBicep, readCompiledIfCurrent, REPO_ROOT } from './bicep-cli.mjs';
import { createZip } from './zip-archive.mjs';

const OUT_DIR = join(REPO_ROOT, 'dist', 'managed-app');

/** @param {string} message */
function fail(message) {
  console.error(`package:managed-app: FAILED: ${message}`);
  process.exit(1);
}

let template = readCompiledIfCurrent()?.template;
if (!template) {
  const cli = locateBicep({ log: (line) => console.log(`package:managed-app: ${line}`) });
  if ('missing' in cli) fail(`no Bicep compiler found (${cli.missing})`);
  else {
    const compiled = compileInfra(cli);
    if (compiled.diagnostics.length > 0) fail(`main.bicep does not build clean:\n${compiled.diagnostics.map((d) => d.text).join('\n')}`);
    template = compiled.template;
  }
}
if (!template) throw new Error('unreachable');

// Managed applications deploy mainTemplate.json with the ARM 1.0 engine only.
if (languageVersionOf(template) !== '1.0') fail(`mainTemplate.json has languageVersion ${languageVersionOf(template)}; managed applications need 1.0`);

const createUi = JSON.parse(readFileSync(join(INFRA_DIR, 'managed-app', 'createUiDefinition.json'), 'utf8'));
const view = JSON.parse(readFileSync(join(INFRA_DIR, 'managed-app', 'viewDefinition.json'), 'utf8'));

const parameters = /** @type {Record<string, { defaultValue?: unknown }>} */ (template.parameters ?? {});
const outputs = /** @type {Record<string, unknown>} */ (createUi.parameters?.outputs ?? {});
const problems = [
  ...Object.keys(outputs)
    .filter((name) => !(name in parameters))
    .map((name) => `createUiDefinition output "${name}" is not a mainTemplate parameter`),
  ...Object.entries(parameters)
    .filter(([name, p]) => !('defaultValue' in p) && !(name in outputs))
    .map(([name]) => `mainTemplate parameter "${name}" has no default and no createUiDefinition output`),
  ...(outputs.tenancyMode === 'single' ? [] : ['a managed application is single-tenant: createUiDefinition must output tenancyMode "single"']),
  ...('location' in outputs ? [] : ['createUiDefinition must output location']),
];
if (problems.length > 0) fail(problems.join('\n'));

const files = [
  { name: 'mainTemplate.json', data: Buffer.from(`${JSON.stringify(template, null, 2)}\n`) },
  { name: 'createUiDefinition.json', data: Buffer.from(`${JSON.stringify(createUi, null, 2)}\n`) },
  { name: 'viewDefinition.json', data: Buffer.from(`${JSON.stringify(view, null, 2)}\n`) },
];
mkdirSync(OUT_DIR, { recursive: true });
writeFileSync(join(OUT_DIR, 'app.zip'), createZip(files));
console.log(`package:managed-app: wrote dist/managed-app/app.zip (${files.map((f) => f.name).join(', ')})`);
