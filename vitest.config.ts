import { fileURLToPath } from 'node:url';

import swc from 'unplugin-swc';
import { defineConfig } from 'vitest/config';

const source = (entry: string): string =>
  fileURLToPath(new URL(`./src/${entry}.ts`, import.meta.url));

// Nest's dependency injection reads the constructor parameter types that the compiler emits as
// decorator metadata; esbuild cannot emit them, so the test transform is SWC.
export default defineConfig({
  plugins: [
    swc.vite({
      jsc: {
        parser: { syntax: 'typescript', decorators: true },
        transform: { legacyDecorator: true, decoratorMetadata: true },
        target: 'es2022',
      },
    }),
  ],
  // The sample imports the package by its name; in tests that name means the sources, so the tests
  // and the sample share one copy of every class.
  resolve: {
    alias: [
      { find: /^tollgate$/, replacement: source('index') },
      { find: /^tollgate\/(.+)$/, replacement: source('$1') },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default', './test/summary-reporter.ts'],
  },
});
