/**
 * OpenAPI documents that know what Tollgate does on each route:
 * `import { createTollgateDocument } from 'tollgate/nest/openapi'`. An entry point of its own, so
 * `tollgate/nest` never loads `@nestjs/swagger` (an optional peer dependency).
 */
export { createTollgateDocument } from './nest/openapi/document.js';
export { PROBLEM_SCHEMA } from './http/openapi.js';
