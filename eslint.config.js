import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const LAYERS =
  'core/ knows nothing of stores, HTTP or frameworks; stores/ implement core; adapters (nest/, express/) never import each other';

export default tseslint.config(
  {
    ignores: [
      'dist/',
      // A/B builds for `npm run bench:store` (DIST=dist-<name>).
      'dist-*/',
      'sample-app/dist/',
      'node_modules/',
      'coverage/',
      'bench/results/',
      'test/package/fixtures/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'no-restricted-imports': 'off',
    },
  },
  // The layers, enforced: the core holds every rule and knows nothing of stores, HTTP or any
  // framework; stores implement the core's contract; http/ is the Node HTTP layer the adapters
  // share; the Nest and Express adapters only translate, and never reach into each other.
  // test/unit/layering.test.ts checks that each fence bites.
  {
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/stores/**', '**/http/**', '**/nest/**', '**/express/**'],
              message: LAYERS,
            },
            { group: ['@nestjs/*', 'express', 'fastify', 'ioredis'], message: LAYERS },
            {
              group: ['@opentelemetry/*'],
              message: 'core/ reports events; only src/otel.ts turns them into OpenTelemetry',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/stores/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/http/**', '**/nest/**', '**/express/**'], message: LAYERS },
            { group: ['@nestjs/*', 'express', 'fastify'], message: LAYERS },
          ],
        },
      ],
    },
  },
  {
    files: ['src/http/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/stores/**', '**/nest/**', '**/express/**'], message: LAYERS },
            { group: ['@nestjs/*', 'express', 'fastify', 'ioredis'], message: LAYERS },
          ],
        },
      ],
    },
  },
  {
    files: ['src/nest/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/express/**', 'express', 'fastify'], message: LAYERS }] },
      ],
    },
  },
  {
    files: ['src/express/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/nest/**', '@nestjs/*'], message: LAYERS }] },
      ],
    },
  },
);
