/**
 * The layers are enforced by lint (eslint.config.js): each fence must actually refuse the import it
 * forbids, and let through the ones the design allows.
 */
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const eslint = new ESLint({ cwd: process.cwd() });

async function importErrors(filePath: string, specifier: string): Promise<string[]> {
  const [result] = await eslint.lintText(`import * as x from '${specifier}';\nexport { x };\n`, {
    filePath,
  });
  return (result?.messages ?? [])
    .filter((message) => message.ruleId === 'no-restricted-imports')
    .map((message) => message.message);
}

describe('the layering fences', () => {
  it.each([
    ['src/core/idempotency/probe.ts', '../../stores/memory/memory-store.js'],
    ['src/core/idempotency/probe.ts', '../../http/request.js'],
    ['src/core/idempotency/probe.ts', '../../nest/decorators.js'],
    ['src/core/probe.ts', '../express/idempotent.js'],
    ['src/core/probe.ts', '@nestjs/common'],
    ['src/core/probe.ts', 'ioredis'],
    ['src/stores/redis/probe.ts', '../../http/request.js'],
    ['src/stores/memory/probe.ts', '../../nest/decorators.js'],
    ['src/http/probe.ts', '../express/idempotent.js'],
    ['src/http/probe.ts', '../stores/redis/redis-store.js'],
    ['src/nest/probe.ts', '../express/idempotent.js'],
    ['src/express/probe.ts', '../nest/decorators.js'],
    ['src/express/probe.ts', '@nestjs/common'],
    ['src/nest/probe.ts', '@nestjs/terminus'],
    ['src/nest/probe.ts', '@nestjs/swagger'],
    ['src/nest.ts', './nest/terminus/tollgate-health.indicator.js'],
    ['src/nest.ts', './nest/openapi/document.js'],
    ['src/index.ts', '@nestjs/swagger'],
    ['src/core/probe.ts', '@opentelemetry/api'],
    ['src/stores/redis/probe.ts', '@opentelemetry/api'],
    ['src/http/probe.ts', '@opentelemetry/api'],
    ['src/nest/probe.ts', '@opentelemetry/api'],
    ['src/express/probe.ts', '@opentelemetry/api'],
    ['src/core/probe.ts', 'pg'],
    ['src/core/idempotency/probe.ts', 'knex'],
    ['src/http/probe.ts', 'pg'],
    ['src/nest/probe.ts', 'pg'],
    ['src/express/probe.ts', 'pg'],
    ['src/express/probe.ts', '../stores/postgres/postgres-store.js'],
    ['src/index.ts', 'pg'],
    ['src/index.ts', './stores/postgres/postgres-store.js'],
    ['src/stores/postgres/probe.ts', 'kysely'],
  ])('%s may not import %s', async (file, specifier) => {
    expect(await importErrors(file, specifier)).not.toEqual([]);
  });

  it.each([
    ['src/core/idempotency/probe.ts', '../store.js'],
    ['src/stores/redis/probe.ts', '../../core/store.js'],
    ['src/http/probe.ts', '../core/idempotency/engine.js'],
    ['src/nest/probe.ts', '../http/request.js'],
    ['src/nest/probe.ts', '../stores/memory/memory-store.js'],
    ['src/express/probe.ts', '../http/request.js'],
    ['src/nest/terminus/probe.ts', '@nestjs/terminus'],
    ['src/nest/openapi/probe.ts', '@nestjs/swagger'],
    ['src/otel.ts', '@opentelemetry/api'],
    ['src/stores/postgres/probe.ts', 'pg'],
    ['src/postgres.ts', './stores/postgres/postgres-store.js'],
  ])('%s may import %s', async (file, specifier) => {
    expect(await importErrors(file, specifier)).toEqual([]);
  });
});

describe('the client fence (tollgate/client runs in a browser as built)', () => {
  async function clientErrors(code: string): Promise<string[]> {
    const [result] = await eslint.lintText(code, { filePath: 'src/client.ts' });
    return (result?.messages ?? [])
      .filter((m) => m.ruleId === 'no-restricted-syntax' || m.ruleId === 'no-restricted-globals')
      .map((m) => m.message);
  }

  it.each([
    ["import { randomUUID } from 'node:crypto';\nexport const k = randomUUID;\n"],
    ["import type { ProblemDetails } from './core/errors.js';\nexport type P = ProblemDetails;\n"],
    ["export { PROBLEM_TYPE_BASE } from './index.js';\n"],
    ["export * from './core/errors.js';\n"],
    ["export const load = () => import('./index.js');\n"],
    ['export const argv = process.argv;\n'],
    ["export const bytes = Buffer.from('x');\n"],
    ["import { helper } from './client/types.js';\nexport const h = helper;\n"],
    ["export { helper } from './client/types.js';\n"],
  ])('refuses %j', async (code) => {
    expect(await clientErrors(code)).not.toEqual([]);
  });

  it('lets through its own types from src/client/, which the build erases', async () => {
    expect(
      await clientErrors(
        "import type { FetchLike } from './client/types.js';\nexport type { IdempotentResult } from './client/types.js';\nexport const f: FetchLike | undefined = undefined;\n",
      ),
    ).toEqual([]);
  });

  it('lets through web globals', async () => {
    expect(
      await clientErrors(
        'export const go = () => fetch(new URL("https://x"), { signal: AbortSignal.timeout(1) });\n',
      ),
    ).toEqual([]);
  });
});
