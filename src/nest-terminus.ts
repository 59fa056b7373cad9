/**
 * Tollgate's store as a `@nestjs/terminus` health indicator:
 * `import { TollgateHealthIndicator } from 'tollgate/nest/terminus'`. An entry point of its own, so
 * `tollgate/nest` never loads `@nestjs/terminus` (an optional peer dependency).
 */
export {
  TollgateHealthIndicator,
  type TollgateHealthOptions,
} from './nest/terminus/tollgate-health.indicator.js';
