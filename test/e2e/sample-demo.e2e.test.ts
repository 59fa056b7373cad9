import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createSampleApp } from '../../sample-app/src/create-app.js';
import { createExpressSampleApp } from '../../sample-app/src/express/create-app.js';
import { request } from '../helpers/http.js';

/**
 * `GET /demo` of every sample variant, run from the sources: the page, its script and the client
 * are served as `demoFile` says, and nothing else is. (test/browser runs the page itself.)
 */

interface RunningSample {
  baseUrl: string;
  close(): Promise<void>;
}

async function startNest(platform: 'express' | 'fastify'): Promise<RunningSample> {
  const { app } = await createSampleApp({ logger: false, platform });
  await app.listen(0, '127.0.0.1');
  const { port } = (app.getHttpServer() as Server).address() as AddressInfo;
  return { baseUrl: `http://127.0.0.1:${port}`, close: () => app.close() };
}

async function startExpress(): Promise<RunningSample> {
  const { app, store } = await createExpressSampleApp({ logger: false });
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    async close() {
      const closed = new Promise((done) => server.close(done));
      server.closeAllConnections();
      await closed;
      await store.close?.();
    },
  };
}

const VARIANTS = [
  { name: 'Nest', start: () => startNest('express') },
  { name: 'Nest on Fastify', start: () => startNest('fastify') },
  { name: 'Express', start: startExpress },
] as const;

describe.each(VARIANTS)('$name sample: GET /demo', (variant) => {
  let sample: RunningSample;

  beforeAll(async () => {
    sample = await variant.start();
  });

  afterAll(async () => {
    await sample?.close();
  });

  it('serves the page, which loads its script as an ES module', async () => {
    const page = await request(sample.baseUrl, 'GET', '/demo');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(page.text).toContain('<script type="module" src="/demo/checkout.js"></script>');
    expect(page.text).toBe(readFileSync('sample-app/src/shared/demo/index.html', 'utf8'));
  });

  it('serves the script, which imports the client beside it', async () => {
    const script = await request(sample.baseUrl, 'GET', '/demo/checkout.js');
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(script.text).toContain(
      "import { idempotentFetch, newIdempotencyKey } from './client.js';",
    );
  });

  it('serves the built tollgate/client: one module, no imports', async () => {
    const client = await request(sample.baseUrl, 'GET', '/demo/client.js');
    expect(client.status).toBe(200);
    expect(client.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(client.headers.get('x-content-type-options')).toBe('nosniff');
    expect(client.text).toBe(readFileSync('dist/client.js', 'utf8'));
    expect(client.text).toContain('export async function idempotentFetch');
    expect(client.text).not.toMatch(/^\s*import\b|\bimport\(|\brequire\(/m);
  });

  it.each(['/demo/nope.js', '/demo/..%2Fpackage.json', '/demo/index.html', '/demo/demo.ts'])(
    'answers %s with a 404 problem: only the three files are served',
    async (path) => {
      const response = await request(sample.baseUrl, 'GET', path);
      expect(response.status).toBe(404);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(response.text).not.toContain('"name"');
    },
  );
});
