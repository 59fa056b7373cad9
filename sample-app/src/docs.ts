import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { createTollgateDocument } from 'tollgate/nest/openapi';

/**
 * The sample's OpenAPI document: Swagger's, with what Tollgate does on each route (the key
 * header, the problem responses, the rate-limit and replay headers) added by Tollgate.
 */
export function sampleDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Tollgate sample')
    .setDescription(
      'Orders and payments that run once per Idempotency-Key, duplicate-proof reports and commands, rate-limited quotes and search.',
    )
    .setVersion('1.0')
    .build();
  return createTollgateDocument(app, config);
}

/** Swagger UI at `/docs`, the document at `/docs-json`. */
export function serveDocs(app: INestApplication): void {
  SwaggerModule.setup('docs', app, sampleDocument(app));
}
