export { inspectCommand, isSystemPath, type CommandInspection } from './inspect.js';
export { parseShell, type ParsedShell, type SimpleCommand, type Redirect } from './parse.js';
export type { CommandCategory } from './programs.js';
export { LineAssembler, type TypedInput } from './line-input.js';
