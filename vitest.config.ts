import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    environment: 'node',
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // The devhost imports app folders (compiled dist/ and fixtures) with Node's own loader, as the
    // Functions worker does; keep Vite from transforming them.
    server: { deps: { external: [/\/dist\//, /\/tests\/fixtures\//] } },
  },
});
