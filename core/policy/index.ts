// Cedar policy decisions for Airlock: connect grants, per-statement decisions and FunctionCall checks.
export { compilePolicySet, checkPolicy, type PolicyEngine } from './engine.js';
export { combineDecisions } from './decide.js';
export { PolicyError } from './errors.js';
export { AIRLOCK_SCHEMA } from './schema.js';
