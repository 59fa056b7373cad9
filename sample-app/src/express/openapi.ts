import type { OpenApiPathsDocument } from 'tollgate/express';

const ok = (description: string) => ({ responses: { '200': { description } } });

/**
 * The Express sample's OpenAPI document as written by hand: its routes and their success
 * responses. Express keeps no route metadata, so what Tollgate does on each protected route is
 * added by `documentTollgateRoute` from the middleware mounted there (see create-app.ts).
 */
export function sampleDocumentSkeleton(): OpenApiPathsDocument & Record<string, unknown> {
  return {
    openapi: '3.0.0',
    info: {
      title: 'Tollgate sample (Express)',
      description:
        'Orders and payments that run once per Idempotency-Key, duplicate-proof reports and commands, rate-limited quotes and search.',
      version: '1.0',
    },
    paths: {
      '/health': {
        get: {
          responses: {
            '200': { description: 'The store serves requests.' },
            '503': { description: 'The store does not answer in time.' },
          },
        },
      },
      '/orders': {
        post: { responses: { '201': { description: 'The order, placed once.' } } },
        get: ok('Every order placed.'),
      },
      '/payments': {
        post: { responses: { '201': { description: 'The payment, taken once.' } } },
        get: ok('The ledger.'),
      },
      '/reports': {
        post: { responses: { '201': { description: 'The report run.' } } },
        get: ok('How many reports ran.'),
      },
      '/commands': {
        post: { responses: { '202': { description: 'The command, accepted.' } } },
        get: ok('How many commands ran.'),
      },
      '/quotes': { get: ok('A price.') },
      '/search': { get: ok('What matched.') },
    },
  };
}
