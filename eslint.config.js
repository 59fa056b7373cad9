import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Only src/otel.ts imports OpenTelemetry: an optional peer, never loaded unless asked for. */
const OTEL_FENCE = {
  group: ['@opentelemetry/*'],
  message: 'only src/otel.ts imports @opentelemetry/*: it is an optional peer dependency',
};

/**
 * Only tollgate/postgres (src/postgres.ts, src/stores/postgres/) loads pg, an optional peer, so
 * an app without it still loads every other entry point. Query builders are recognised by their
 * shape, never imported.
 */
const PG_FENCE = {
  group: ['pg', 'pg-*', 'knex', 'kysely', '**/stores/postgres/**', '**/postgres.js'],
  message:
    'only tollgate/postgres (src/postgres.ts, src/stores/postgres/) imports pg, an optional peer; knex and kysely are never imported',
};
const QUERY_BUILDERS = {
  group: ['knex', 'kysely'],
  message:
    'query builders are recognised by their shape (src/stores/postgres/executors.ts), never imported',
};

const OPTIONAL_PEERS =
  '@nestjs/terminus and @nestjs/swagger are optional: only their own entry points (src/nest/terminus/, src/nest/openapi/) load them';
const OPTIONAL_PEER_IMPORTS = {
  group: ['@nestjs/terminus', '@nestjs/swagger'],
  message: OPTIONAL_PEERS,
};

const LAYERS =
  'core/ knows nothing of stores, HTTP or frameworks; stores/ implement core; adapters (nest/, express/) never import each other';

const QUEUES =
  'tollgate/amqp and tollgate/bullmq use amqplib and BullMQ by their shape: no import of them, of a framework or of a store';

const CLIENT =
  'tollgate/client must run in a browser as built: no imports (not even of the core) and no Node globals';

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
            PG_FENCE,
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
            QUERY_BUILDERS,
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
            PG_FENCE,
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
            OPTIONAL_PEER_IMPORTS,
            OTEL_FENCE,
            PG_FENCE,
          ],
        },
      ],
    },
  },
  // The queue adapters translate between a queue client and the core, and know that client only
  // by its shape: amqplib and bullmq are optional peers that no file of the package imports.
  {
    files: ['src/amqp/**/*.ts', 'src/bullmq/**/*.ts', 'src/amqp.ts', 'src/bullmq.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/stores/**', '**/http/**', '**/nest/**', '**/express/**'],
              message: LAYERS,
            },
            { group: ['@nestjs/*', 'express', 'fastify', 'ioredis'], message: QUEUES },
            OTEL_FENCE,
          ],
          // By name, not as patterns: a pattern `bullmq` would also match ./bullmq/ itself.
          paths: [
            { name: 'amqplib', message: QUEUES },
            { name: 'bullmq', message: QUEUES },
          ],
        },
      ],
    },
  },
  // The optional integrations, each behind an entry point of its own.
  {
    files: ['src/nest/terminus/**/*.ts', 'src/nest/openapi/**/*.ts'],
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
  // tollgate/client runs in browsers as it is built: one file that imports nothing (not even the
  // core; its own types from src/client/ only, which are erased) and touches no Node global, so
  // `dist/client.js` loads as an ES module without a bundler.
  // test/unit/layering.test.ts checks that this fence bites too.
  {
    files: ['src/client.ts', 'src/client/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          // Types alone may come from src/client/: they are erased, so the built file still
          // imports nothing.
          selector: [
            "ImportDeclaration[importKind!='type']",
            "ImportDeclaration[importKind='type'][source.value!=/^\\.\\/client\\//]",
            'ImportExpression',
            'ExportAllDeclaration',
            "ExportNamedDeclaration[source][exportKind!='type']",
            "ExportNamedDeclaration[source][exportKind='type'][source.value!=/^\\.\\/client\\//]",
          ].join(', '),
          message: CLIENT,
        },
      ],
      'no-restricted-globals': [
        'error',
        ...[
          'process',
          'Buffer',
          'require',
          'global',
          '__dirname',
          '__filename',
          'setImmediate',
        ].map((name) => ({ name, message: CLIENT })),
      ],
    },
  },
  // The sample's checkout page: a plain ES module the browser runs as it is.
  {
    files: ['sample-app/src/shared/demo/*.js'],
    languageOptions: { globals: { document: 'readonly', fetch: 'readonly' } },
  },
  {
    files: ['src/index.ts', 'src/nest.ts', 'src/express.ts', 'src/testing.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            OPTIONAL_PEER_IMPORTS,
            { group: ['**/terminus/**', '**/openapi/**'], message: OPTIONAL_PEERS },
            OTEL_FENCE,
            PG_FENCE,
          ],
        },
      ],
    },
  },
  // The sample uses the package as an app does, by its name: a relative import of the library's
  // sources would load a second copy of its classes beside the built package.
  {
    files: ['sample-app/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/src/*', '**/src/**'],
              message:
                "import the package by its name: 'tollgate', 'tollgate/nest', 'tollgate/express'",
            },
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
        {
          patterns: [{ group: ['**/nest/**', '@nestjs/*'], message: LAYERS }, OTEL_FENCE, PG_FENCE],
        },
      ],
    },
  },
);
