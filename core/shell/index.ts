export { inspectCommand, isSystemPath, ALLOWED_VARIABLES, type CommandInspection, type ShellState } from './inspect.js';
export { parseBash, type ParseResult } from './syntax.js';
export { targetCommand, TARGET_PATH, type InheritedVariable } from './forward.js';
export type { CommandCategory } from './programs.js';
export { LineAssembler, type TypedInput } from './line-input.js';
