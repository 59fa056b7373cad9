// Moved to core (the store contract is the core's port); kept until every import moves.
export * from '../core/store.js';
