// The masking section of the gateway configuration: one zod schema, errors that name the bad key.
import { z } from 'zod';
import { DETECTOR_NAMES, MASK_STYLES, type MaskingConfig } from './types.js';

const style = z.enum(MASK_STYLES);

export const maskingConfigSchema = z
  .object({
    enabled: z.boolean().default(true),
    detectors: z
      .partialRecord(z.enum(DETECTOR_NAMES), z.object({ enabled: z.boolean().optional(), style: style.optional() }).strict())
      .default({}),
    columnRules: z.array(z.object({ pattern: z.string().min(1), style }).strict()).default([]),
    tokenizationKey: z.string().min(16, 'tokenizationKey must be at least 16 characters').optional(),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const styles = [...Object.values(cfg.detectors).map((d) => d?.style), ...cfg.columnRules.map((r) => r.style)];
    if (styles.includes('tokenize') && cfg.tokenizationKey === undefined) {
      ctx.addIssue({ code: 'custom', path: ['tokenizationKey'], message: 'tokenizationKey is required when a style is "tokenize"' });
    }
  });

/** Validates raw configuration (e.g. parsed YAML). Throws a ZodError naming the offending key; never echoes the key's value. */
export function parseMaskingConfig(raw: unknown): MaskingConfig {
  return maskingConfigSchema.parse(raw) as MaskingConfig;
}

/** Every detector on, redacting; no column rules. */
export const DEFAULT_MASKING_CONFIG: MaskingConfig = { enabled: true, detectors: {}, columnRules: [] };
