import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'dist-dev/**', 'node_modules/**', 'coverage/**', '.devhost/**', 'tests/fixtures/**/.devhost/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    // Type-aware rules: a promise nobody awaits, an await on something that is not a promise, and
    // a switch that misses a member of a union are bugs the compiler does not catch.
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { project: './tsconfig.test.json', tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
    },
  },
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        fetch: 'readonly',
        Headers: 'readonly',
        AbortController: 'readonly',
        structuredClone: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    // Registration is wiring (CONVENTIONS.md 1, 2): functions/ and shared/ never reach into the devhost.
    files: ['functions/**/*.ts', 'shared/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/devhost/**', '**/devhost'], message: 'The app must not import the devhost.' }] }],
    },
  },
  {
    // The devhost is a host for any Functions app (CONVENTIONS.md 2): it loads an app only through
    // its package.json "main" and imports nothing of this one. Project tooling that needs shared/
    // lives in tools/, which may import both.
    files: ['devhost/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            // Relative paths only, so packages such as @azure/functions stay allowed.
            { regex: '^(\\.\\./)+(shared|functions|tools)(/|$)', message: 'The devhost must not import the app (shared/, functions/) or the project tools (tools/).' },
          ],
        },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: 'ImportExpression[source.value=/^(\\.\\.\\/)+(shared|functions|tools)(\\/|$)/]',
          message: 'The devhost must not import the app (shared/, functions/) or the project tools (tools/).',
        },
      ],
    },
  },
  {
    // Durable time is the injected clock's (devhost/host/clock.ts), so tests can skip a 24-hour
    // timer on a ManualClock. The two real-time waits (a shutdown's grace, a caller's long-poll
    // timeout) are marked with an eslint-disable and say why.
    files: ['devhost/durable/**/*.ts'],
    rules: {
      'no-restricted-globals': [
        'error',
        { name: 'setTimeout', message: "Durable time is the clock's: use clock.setTimer." },
        { name: 'setInterval', message: "Durable time is the clock's: use clock.setTimer." },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: 'ImportExpression[source.value=/^(\\.\\.\\/)+(shared|functions|tools)(\\/|$)/]',
          message: 'The devhost must not import the app (shared/, functions/) or the project tools (tools/).',
        },
        { selector: "CallExpression[callee.object.name='Date'][callee.property.name='now']", message: "Durable time is the clock's: use clock.now()." },
        { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: "Durable time is the clock's: use new Date(clock.now())." },
      ],
    },
  },
  {
    files: ['functions/**/*.ts'],
    rules: {
      'no-restricted-syntax': ['error', { selector: 'FunctionDeclaration', message: 'functions/ is registration only: build handlers in shared/.' }],
    },
  },
  {
    // Orchestrators are replayed: no I/O, clock, randomness, env or config (DESIGN.md section 5).
    files: ['shared/orchestrators/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*', 'fs', 'http', 'https', 'net', 'crypto', 'child_process'], message: 'Orchestrators do no I/O: use an activity.' },
            { group: ['@azure/storage-blob', '@azure/service-bus', '@azure/keyvault-secrets', '@azure/identity', 'openai'], message: 'Orchestrators do no I/O: use an activity.' },
            { group: ['**/config', '**/config.js', '**/composition-root*'], message: 'Orchestrators take settings from their input, never from config.' },
            { group: ['**/devhost/**'], message: 'The app must not import the devhost.' },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'setTimeout', message: 'Use context.df.createTimer.' },
        { name: 'setInterval', message: 'Use context.df.createTimer.' },
        { name: 'setImmediate', message: 'Orchestrators must not schedule work outside Durable.' },
        { name: 'fetch', message: 'Orchestrators do no I/O: use an activity.' },
        { name: 'process', message: 'Orchestrators take settings from their input.' },
        { name: 'crypto', message: 'Use context.df.newGuid for ids.' },
      ],
      'no-restricted-syntax': [
        'error',
        { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'Use context.df.currentUtcDateTime.' },
        { selector: "CallExpression[callee.object.name='Date'][callee.property.name='now']", message: 'Use context.df.currentUtcDateTime.' },
        { selector: "MemberExpression[object.name='Math'][property.name='random']", message: 'Use context.df.newGuid for randomness.' },
        { selector: "MemberExpression[object.name='performance']", message: 'Orchestrators must not read the clock.' },
      ],
    },
  },
  {
    files: ['tests/fixtures/**/*.{js,mjs,cjs}'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
