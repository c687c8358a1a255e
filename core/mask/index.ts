// Public surface of the masking engine.
export { createMasker, type ColumnPlan, type Masker } from './masker.js';
export { DEFAULT_MASKING_CONFIG, maskingConfigSchema, parseMaskingConfig } from './config.js';
export { findSensitive } from './detect.js';
export {
  DETECTOR_NAMES,
  MASK_STYLES,
  type ColumnRule,
  type DetectorName,
  type DetectorSettings,
  type Finding,
  type MaskingConfig,
  type MaskStyle,
  type MaskSummary,
} from './types.js';
