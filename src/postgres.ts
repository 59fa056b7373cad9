/**
 * Tollgate on PostgreSQL: `import { PostgresStore } from 'tollgate/postgres'`. Needs `pg`
 * (node-postgres), which only this entry point loads.
 */
export { PostgresStore } from './stores/postgres/postgres-store.js';
export type {
  PostgresStoreCommonOptions,
  PostgresStoreOptions,
} from './stores/postgres/connection.js';
export { postgresMigration } from './stores/postgres/schema.js';
