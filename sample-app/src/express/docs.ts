import { createRequire } from 'node:module';
import { dirname } from 'node:path';

import express, { type Express } from 'express';

/** Where swagger-ui-dist keeps Swagger UI's built files (it ships no types, only the files). */
const SWAGGER_UI_FILES = dirname(
  createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'),
);

/** Swagger UI's page, pointed at the document this app serves. */
function swaggerUiPage(documentUrl: string): string {
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>Tollgate sample: Swagger UI</title>
    <link rel="stylesheet" href="/docs/swagger-ui.css" />
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="/docs/swagger-ui-bundle.js"></script>
    <script src="/docs/swagger-ui-standalone-preset.js"></script>
    <script src="/docs/init.js?url=${encodeURIComponent(documentUrl)}"></script>
  </body>
</html>
`;
}

/** Starts Swagger UI on the document named by the script's own `url` query parameter. */
const INIT_SCRIPT = `window.ui = SwaggerUIBundle({
  url: new URL(document.currentScript.src).searchParams.get('url'),
  dom_id: '#swagger-ui',
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  layout: 'StandaloneLayout',
});
`;

/**
 * Swagger UI at `/docs`, as the Nest variants serve it with `SwaggerModule.setup`: the page, then
 * its assets from swagger-ui-dist under `/docs/`.
 */
export function serveSwaggerUi(app: Express, documentUrl: string): void {
  const page = swaggerUiPage(documentUrl);
  app.get('/docs', (_req, res) => {
    res.type('html').send(page);
  });
  app.get('/docs/init.js', (_req, res) => {
    res.type('js').send(INIT_SCRIPT);
  });
  // Only the assets: swagger-ui-dist's own index.html and initializer point at a demo document.
  app.use('/docs', express.static(SWAGGER_UI_FILES, { index: false }));
}
