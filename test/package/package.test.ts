import { execFile, execFileSync, type ExecFileSyncOptions } from 'node:child_process';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The package as users get it: `npm pack` on a fresh checkout (no dist/: packing must build it),
 * then install the tarball into small throwaway apps and use it every way a user would (ESM
 * NestJS 12, CommonJS NestJS 11, Express in ESM and CommonJS), type-checking the TypeScript ones
 * with their own settings.
 */
const root = resolve('.');
const require = createRequire(import.meta.url);
const tsc = require.resolve('typescript/bin/tsc');
const work = mkdtempSync(join(tmpdir(), 'tollgate-package-'));
let tarball: string;

function run(command: string, args: string[], options: ExecFileSyncOptions = {}): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: 'pipe', ...options }).toString();
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(
      `${command} ${args.join(' ')} failed:\n${failed.stdout ?? ''}\n${failed.stderr ?? ''}`,
      {
        cause: error,
      },
    );
  }
}

const npm = (args: string[], cwd: string): string =>
  run('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd });

const execFileAsync = promisify(execFile);

/** `run` without blocking the event loop, so the consumer apps install and build side by side. */
async function runAsync(command: string, args: string[], cwd: string): Promise<string> {
  try {
    return (await execFileAsync(command, args, { cwd, encoding: 'utf8', maxBuffer: 64 << 20 }))
      .stdout;
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string };
    throw new Error(
      `${command} ${args.join(' ')} failed:\n${failed.stdout ?? ''}\n${failed.stderr ?? ''}`,
      {
        cause: error,
      },
    );
  }
}

/**
 * What a fresh clone holds: the files git tracks (as they are in the working tree) and new ones it
 * does not ignore, but nothing built. The dependencies are the root's, linked rather than installed.
 */
function freshCheckout(): string {
  const checkout = join(work, 'checkout');
  const files = run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: root,
  })
    .split('\0')
    .filter((file) => file !== '');
  for (const file of files) {
    mkdirSync(dirname(join(checkout, file)), { recursive: true });
    try {
      cpSync(join(root, file), join(checkout, file));
    } catch {
      // Deleted in the working tree but not yet in the index: a fresh clone would not have it either.
    }
  }
  symlinkSync(join(root, 'node_modules'), join(checkout, 'node_modules'), 'dir');
  return checkout;
}

beforeAll(() => {
  const checkout = freshCheckout();
  const packed = JSON.parse(
    npm(['pack', '--json', '--pack-destination', work], checkout),
  ) as Array<{
    filename: string;
  }>;
  tarball = join(work, packed[0]!.filename);
}, 180_000);

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe('the packed package', () => {
  it('ships the built entry points and no sources or tests', () => {
    const listing = run('tar', ['-tzf', tarball]);
    for (const entry of [
      'dist/index.js',
      'dist/index.d.ts',
      'dist/nest.js',
      'dist/nest.d.ts',
      'dist/express.js',
      'dist/testing.js',
      'dist/testing.d.ts',
      'dist/client.js',
      'dist/client.d.ts',
      'dist/nest-terminus.js',
      'dist/nest-terminus.d.ts',
      'dist/nest-openapi.js',
      'dist/nest-openapi.d.ts',
      'dist/otel.js',
      'dist/otel.d.ts',
      'dist/postgres.js',
      'dist/postgres.d.ts',
      'dist/amqp.js',
      'dist/amqp.d.ts',
      'dist/bullmq.js',
      'dist/bullmq.d.ts',
    ]) {
      expect(listing).toContain(`package/${entry}`);
    }
    for (const entry of ['LICENSE', 'README.md', 'CHANGELOG.md', 'docs/errors/README.md']) {
      expect(listing).toContain(`package/${entry}`);
    }
    expect(listing).not.toMatch(/package\/(src|test|sample-app|bench)\//);
  });

  it('ships source maps that carry their sources, and no maps pointing at unshipped files', () => {
    const maps = run('tar', ['-tzf', tarball])
      .split('\n')
      .filter((entry) => entry.endsWith('.map'));
    expect(maps.length).toBeGreaterThan(10);
    expect(maps.filter((entry) => entry.endsWith('.d.ts.map'))).toEqual([]);
    for (const entry of maps) {
      const map = JSON.parse(run('tar', ['-xzOf', tarball, entry])) as {
        sources: string[];
        sourcesContent?: Array<string | null>;
      };
      expect(map.sourcesContent?.length, entry).toBe(map.sources.length);
      expect(map.sourcesContent?.every((content) => typeof content === 'string')).toBe(true);
    }
  });

  it('exports tollgate/testing, and the contract suites in it import no test runner', () => {
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      exports: Record<string, unknown>;
      typesVersions: { '*': Record<string, string[]> };
    };
    expect(manifest.exports['./testing']).toEqual({
      types: './dist/testing.d.ts',
      default: './dist/testing.js',
    });
    expect(manifest.typesVersions['*'].testing).toEqual(['./dist/testing.d.ts']);
    const listing = run('tar', ['-tzf', tarball])
      .split('\n')
      .filter((entry) => /^package\/dist\/testing(\.js|\/.*\.js)$/.test(entry));
    expect(listing.length).toBeGreaterThan(1);
    for (const entry of listing) {
      const source = run('tar', ['-xzOf', tarball, entry]);
      expect(source, entry).not.toMatch(/from ['"](vitest|@jest\/globals|jest)['"]/);
    }
  });

  it('exports tollgate/client as one file that imports nothing, so a browser loads it as it is', () => {
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      exports: Record<string, unknown>;
      typesVersions: { '*': Record<string, string[]> };
    };
    expect(manifest.exports['./client']).toEqual({
      types: './dist/client.d.ts',
      default: './dist/client.js',
    });
    expect(manifest.typesVersions['*'].client).toEqual(['./dist/client.d.ts']);
    const source = run('tar', ['-xzOf', tarball, 'package/dist/client.js']);
    expect(source).toContain('export async function idempotentFetch');
    expect(source).not.toMatch(/^\s*(import|export .* from)\b|\bimport\(|\brequire\(/m);
  });

  it('loads @nestjs/terminus and @nestjs/swagger only from tollgate/nest/terminus and tollgate/nest/openapi', () => {
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      exports: Record<string, unknown>;
      typesVersions: { '*': Record<string, string[]> };
      peerDependenciesMeta: Record<string, { optional?: boolean }>;
    };
    expect(manifest.exports['./nest/terminus']).toEqual({
      types: './dist/nest-terminus.d.ts',
      default: './dist/nest-terminus.js',
    });
    expect(manifest.exports['./nest/openapi']).toEqual({
      types: './dist/nest-openapi.d.ts',
      default: './dist/nest-openapi.js',
    });
    expect(manifest.typesVersions['*']['nest/terminus']).toEqual(['./dist/nest-terminus.d.ts']);
    expect(manifest.typesVersions['*']['nest/openapi']).toEqual(['./dist/nest-openapi.d.ts']);
    expect(manifest.peerDependenciesMeta['@nestjs/terminus']?.optional).toBe(true);
    expect(manifest.peerDependenciesMeta['@nestjs/swagger']?.optional).toBe(true);
    const modules = run('tar', ['-tzf', tarball])
      .split('\n')
      .filter((entry) => /^package\/dist\/.*\.js$/.test(entry));
    const importers = (peer: string): string[] =>
      modules.filter((entry) =>
        new RegExp(`from ['"]${peer}['"]`).test(run('tar', ['-xzOf', tarball, entry])),
      );
    expect(importers('@nestjs/terminus')).toEqual([
      'package/dist/nest/terminus/tollgate-health.indicator.js',
    ]);
    expect(importers('@nestjs/swagger').sort()).toEqual(['package/dist/nest/openapi/document.js']);
  });

  it('loads pg only from tollgate/postgres, an optional peer, and no query builder at all', () => {
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      exports: Record<string, unknown>;
      typesVersions: { '*': Record<string, string[]> };
      peerDependencies: Record<string, string>;
      peerDependenciesMeta: Record<string, { optional?: boolean }>;
    };
    expect(manifest.exports['./postgres']).toEqual({
      types: './dist/postgres.d.ts',
      default: './dist/postgres.js',
    });
    expect(manifest.typesVersions['*'].postgres).toEqual(['./dist/postgres.d.ts']);
    expect(manifest.peerDependencies.pg).toBeDefined();
    expect(manifest.peerDependenciesMeta.pg?.optional).toBe(true);
    const modules = run('tar', ['-tzf', tarball])
      .split('\n')
      .filter((entry) => /^package\/dist\/.*\.js$/.test(entry));
    const sources = new Map(modules.map((entry) => [entry, run('tar', ['-xzOf', tarball, entry])]));
    const importing = (pattern: RegExp): string[] =>
      [...sources].filter(([, source]) => pattern.test(source)).map(([entry]) => entry);
    // Import statements only: doc comments show `import { Pool } from 'pg'` too.
    expect(importing(/^import .* from ['"]pg['"]/m)).toEqual([
      'package/dist/stores/postgres/connection.js',
    ]);
    expect(importing(/^import .* from ['"](knex|kysely)['"]/m)).toEqual([]);
    // Only the entry point and the store's own modules reach the store.
    for (const entry of importing(/stores\/postgres\//)) {
      expect(entry).toMatch(/^package\/dist\/(postgres\.js|stores\/postgres\/)/);
    }
  });

  it('exports tollgate/amqp and tollgate/bullmq, which use amqplib and BullMQ by shape and never import them', () => {
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      exports: Record<string, unknown>;
      typesVersions: { '*': Record<string, string[]> };
      peerDependenciesMeta: Record<string, { optional?: boolean }>;
    };
    for (const entry of ['amqp', 'bullmq']) {
      expect(manifest.exports[`./${entry}`]).toEqual({
        types: `./dist/${entry}.d.ts`,
        default: `./dist/${entry}.js`,
      });
      expect(manifest.typesVersions['*'][entry]).toEqual([`./dist/${entry}.d.ts`]);
    }
    expect(manifest.peerDependenciesMeta.amqplib?.optional).toBe(true);
    expect(manifest.peerDependenciesMeta.bullmq?.optional).toBe(true);
    const modules = run('tar', ['-tzf', tarball])
      .split('\n')
      .filter((entry) => /^package\/dist\/.*\.(js|d\.ts)$/.test(entry));
    const importing = modules.filter((entry) =>
      /from ['"](amqplib|bullmq)['"]|import\(['"](amqplib|bullmq)['"]\)/.test(
        run('tar', ['-xzOf', tarball, entry]),
      ),
    );
    expect(importing).toEqual([]);
  });

  it('passes publint', () => {
    const output = run(
      process.execPath,
      [join(root, 'node_modules/publint/src/cli.js'), '--strict'],
      { cwd: root },
    );
    expect(output).not.toMatch(/error/i);
  });

  it('resolves its types in every module mode (are the types wrong?)', () => {
    // ESM only on purpose: require() of it works on the Node versions we support, so the
    // CommonJS resolution modes are checked through the consumer apps below instead.
    run(process.execPath, [
      join(root, 'node_modules/@arethetypeswrong/cli/dist/index.js'),
      tarball,
      '--profile',
      'esm-only',
    ]);
  });

  const consumers: Array<[name: string, entry: string, typescript: boolean]> = [
    ['nest12-esm', 'dist/main.js', true],
    ['nest11-cjs', 'dist/main.js', true],
    ['express-esm', 'dist/main.js', true],
    ['express-cjs', 'main.cjs', false],
  ];

  // Concurrent: most of an install is waiting on the disk and the registry's cache, so the four
  // apps take little longer together than the slowest alone.
  it.concurrent.each(consumers)(
    'works in the %s consumer app',
    async (name, entry, typescript) => {
      const app = join(work, name);
      cpSync(join(root, 'test/package/fixtures', name), app, { recursive: true });
      const manifest = join(app, 'package.json');
      writeFileSync(manifest, readFileSync(manifest, 'utf8').replace('TARBALL', tarball));
      await runAsync(
        'npm',
        [
          'install',
          '--prefer-offline',
          '--no-package-lock',
          '--no-audit',
          '--no-fund',
          '--loglevel=error',
        ],
        app,
      );
      if (typescript) await runAsync(process.execPath, [tsc, '-p', 'tsconfig.json'], app);
      expect(await runAsync(process.execPath, [entry], app)).toContain('consumer ok');
    },
    180_000,
  );
});
