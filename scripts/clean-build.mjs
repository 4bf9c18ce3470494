// `npm run build` step 1: removes what the TypeScript builds emit, so a deleted or renamed source
// file cannot survive in the output (package.json "main" is a glob, dist/functions/*.js, so a
// stale function there would still be loaded and deployed). Only tsc's own output goes:
//   dist/functions, dist/shared   tsconfig.json (the deployable app)
//   dist-dev                      tsconfig.dev.json (devhost, tools, bench)
//   dist/devhost, dist/bench      where the single build before tsconfig.dev.json put them
// Everything else under dist/ stays: dist/infra (the cached Bicep build of `npm run infra:build`),
// dist/managed-app and dist/function-app (package outputs).

import { rmSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
for (const dir of ['dist/functions', 'dist/shared', 'dist-dev', 'dist/devhost', 'dist/bench']) rmSync(join(root, dir), { recursive: true, force: true });
