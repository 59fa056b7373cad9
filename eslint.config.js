import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Only src/otel.ts imports OpenTelemetry: an optional peer, never loaded unless asked for. */
const OTEL_FENCE = {
  group: ['@opentelemetry/*'],
  message: 'only src/otel.ts imports @opentelemetry/*: it is an optional peer dependency',
};

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
            OTEL_FENCE,
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
            OTEL_FENCE,
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
            OTEL_FENCE,
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
        {
          patterns: [
            { group: ['**/express/**', 'express', 'fastify'], message: LAYERS },
            OTEL_FENCE,
          ],
        },
      ],
    },
  },
  {
    files: ['src/express/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/nest/**', '@nestjs/*'], message: LAYERS }, OTEL_FENCE] },
      ],
    },
  },
);
