/**
 * The checkout demo's files, served at `GET /demo` (the page), `GET /demo/checkout.js` (its
 * script) and `GET /demo/client.js` (tollgate/client) by every variant of the sample: the one
 * rule of what is served, from where and how, which each variant only wires to its router.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A file of the demo, ready to send with status 200. */
export interface DemoFile {
  headers: Record<string, string>;
  body: string;
}

/**
 * The sample's directory. This module runs from its sources (in tests) or from the sample's
 * build, which mirrors the repository under `sample-app/dist/`; both lead back to `sample-app/`.
 */
const SAMPLE_DIR = fileURLToPath(new URL('../../', import.meta.url)).replace(
  /dist[\\/]sample-app[\\/]$/,
  '',
);

const JAVASCRIPT = 'text/javascript; charset=utf-8';

/**
 * The page and its script are read from the sources: they are plain files that need no build
 * (tsc copies nothing but what it compiles). The client is the package's own built
 * `tollgate/client`, found as any import of it is (`npm start` builds the package first), so the
 * browser runs exactly what an app imports.
 */
const FILES: Record<string, { path: string; type: string }> = {
  '': { path: join(SAMPLE_DIR, 'src/shared/demo/index.html'), type: 'text/html; charset=utf-8' },
  'checkout.js': { path: join(SAMPLE_DIR, 'src/shared/demo/checkout.js'), type: JAVASCRIPT },
  'client.js': {
    path: createRequire(import.meta.url).resolve('tollgate/client'),
    type: JAVASCRIPT,
  },
};

/**
 * The demo's file called `name` (`''` for the page), or `undefined` for any other name: only
 * these three files are ever read, whatever the request asks for.
 */
export async function demoFile(name = ''): Promise<DemoFile | undefined> {
  const file = Object.hasOwn(FILES, name) ? FILES[name] : undefined;
  if (!file) return undefined;
  const body = await readFile(file.path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new Error(
      error.code === 'ENOENT' && name === 'client.js'
        ? `the demo serves the built tollgate/client, and ${file.path} is missing: run npm run build`
        : `the demo could not read ${file.path}: ${error.message}`,
      { cause: error },
    );
  });
  return {
    headers: {
      'Content-Type': file.type,
      // Always the files on disk: an edited page shows on reload.
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
    },
    body,
  };
}
