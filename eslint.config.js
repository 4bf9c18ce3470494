import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.devhost/**', 'tests/fixtures/**/.devhost/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly', fetch: 'readonly', Headers: 'readonly', AbortController: 'readonly', structuredClone: 'readonly' },
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
    files: ['functions/**/*.ts'],
    rules: {
      'no-restricted-syntax': ['error', { selector: 'FunctionDeclaration', message: 'functions/ is registration only: build handlers in shared/.' }],
    },
  },
  {
    files: ['tests/fixtures/**/*.{js,mjs,cjs}'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
