import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Only src/otel.ts imports OpenTelemetry: an optional peer, never loaded unless asked for. */
const OTEL_FENCE = {
  group: ['@opentelemetry/*'],
  message: 'only src/otel.ts imports @opentelemetry/*: it is an optional peer dependency',
};

const OPTIONAL_PEERS =
  '@nestjs/terminus and @nestjs/swagger are optional: only their own entry points (src/nest/terminus/, src/nest/openapi/) load them';
const OPTIONAL_PEER_IMPORTS = {
  group: ['@nestjs/terminus', '@nestjs/swagger'],
  message: OPTIONAL_PEERS,
};

const LAYERS =
  'core/ knows nothing of stores, HTTP or frameworks; stores/ implement core; adapters (nest/, express/) never import each other';

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
            OPTIONAL_PEER_IMPORTS,
            OTEL_FENCE,
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
        { patterns: [{ group: ['**/nest/**', '@nestjs/*'], message: LAYERS }, OTEL_FENCE] },
      ],
    },
  },
);
