import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import swc from 'unplugin-swc';
import { defineConfig } from 'vitest/config';

const manifest = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')) as {
  name: string;
  exports: Record<string, string | { default: string }>;
};

/** Each entry point of the package, by its import name, to the source its built file comes from. */
const entryPoints = Object.entries(manifest.exports).flatMap(([subpath, target]) =>
  typeof target === 'string'
    ? []
    : [
        {
          find: subpath === '.' ? manifest.name : `${manifest.name}/${subpath.slice(2)}`,
          replacement: fileURLToPath(
            new URL(
              target.default.replace('./dist/', './src/').replace(/\.js$/, '.ts'),
              import.meta.url,
            ),
          ),
        },
      ],
);

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
    alias: entryPoints.map(({ find, replacement }) => ({
      find: new RegExp(`^${find}$`),
      replacement,
    })),
  },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Vitest's default in a run is one file at a time on two cores (cores - 1). Most files spend
    // their time waiting (servers starting, leases running out, processes restarting), so three
    // side by side keep both cores busy; tests that time things leave room for a busy machine.
    maxWorkers: 3,
    reporters: ['default', './test/summary-reporter.ts'],
  },
});
