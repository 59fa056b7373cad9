import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';

/** The HTTP platforms Nest runs on; every Nest e2e suite runs over each (`describe.each`). */
export const NEST_PLATFORMS = ['express', 'fastify'] as const;
export type NestPlatform = (typeof NEST_PLATFORMS)[number];

/** A Nest app of `module` on the given platform, without logs, ready to `listen`. */
export async function createNestApp(
  module: object,
  platform: NestPlatform,
): Promise<INestApplication> {
  return platform === 'fastify'
    ? NestFactory.create(module, new FastifyAdapter(), { logger: false })
    : NestFactory.create(module, { logger: false });
}
