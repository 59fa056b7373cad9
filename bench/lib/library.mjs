/**
 * Puts the freshly built library (`npm run build` → dist/) into bench/node_modules/tollgate, as a
 * copy of what `npm pack` would ship (package.json and dist/).
 *
 * Why a copy and not `"tollgate": "file:.."`: npm links a `file:` directory, and Node resolves a
 * linked package's imports from its real path, so tollgate/nest would load @nestjs/common and
 * @nestjs/core from the repository's node_modules while the bench app and the peers load the
 * bench's. Two copies of Nest break dependency injection (Reflector, HttpAdapterHost are matched by
 * class). Copied into bench/node_modules, Tollgate shares the one Nest, Express and ioredis that
 * every target uses, as it would in a user's app.
 */
import {
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH_DIR = dirname(dirname(fileURLToPath(import.meta.url)));
export const ROOT_DIR = dirname(BENCH_DIR);

/** Copies dist/ and package.json into bench/node_modules/tollgate; returns the library's version. */
export function installBuiltLibrary() {
  const dist = join(ROOT_DIR, 'dist');
  if (!existsSync(join(dist, 'index.js'))) {
    throw new Error('dist/index.js is missing: run `npm run build` in the repository root first');
  }
  if (!existsSync(join(BENCH_DIR, 'node_modules', '@nestjs', 'core'))) {
    throw new Error('bench/node_modules is missing: run `npm --prefix bench ci` first');
  }
  const target = join(BENCH_DIR, 'node_modules', 'tollgate');
  rmSync(target, { recursive: true, force: true });
  mkdirSync(target, { recursive: true });
  const manifest = JSON.parse(readFileSync(join(ROOT_DIR, 'package.json'), 'utf8'));
  // Only what a user's install has: no scripts, no dev dependencies.
  const shipped = {
    name: manifest.name,
    version: manifest.version,
    type: manifest.type,
    exports: manifest.exports,
    main: manifest.main,
    types: manifest.types,
    sideEffects: manifest.sideEffects,
    peerDependencies: manifest.peerDependencies,
  };
  writeFileSync(join(target, 'package.json'), JSON.stringify(shipped, null, 2) + '\n');
  cpSync(dist, join(target, 'dist'), { recursive: true });
  return manifest.version;
}

/** When dist/ was built (the time of dist/index.js), so results say which build they measured. */
export function libraryBuiltAt() {
  return statSync(join(ROOT_DIR, 'dist', 'index.js')).mtime.toISOString();
}

/** The installed version of a bench dependency, read from its package.json. */
export function installedVersion(name) {
  try {
    const file = join(BENCH_DIR, 'node_modules', ...name.split('/'), 'package.json');
    return JSON.parse(readFileSync(file, 'utf8')).version;
  } catch {
    return 'not installed';
  }
}
