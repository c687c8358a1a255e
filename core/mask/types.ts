// Vocabulary of the masking engine. Protocol-agnostic: callers hand in strings, get strings back.

/** Every value detector, in the order they are documented (docs/masking.md). */
export const DETECTOR_NAMES = [
  'card',
  'ssn',
  'email',
  'phone',
  'iban',
  'aws_access_key',
  'aws_secret_key',
  'github_token',
  'gitlab_token',
  'slack_token',
  'stripe_key',
  'openai_key',
  'jwt',
  'private_key',
  'connection_password',
  'secret_assignment',
  'password_hash',
] as const;
export type DetectorName = (typeof DETECTOR_NAMES)[number];

export const MASK_STYLES = ['redact', 'partial', 'tokenize', 'format-preserving'] as const;
export type MaskStyle = (typeof MASK_STYLES)[number];

export interface DetectorSettings {
  /** Default true. */
  enabled?: boolean;
  /** Default `redact`. */
  style?: MaskStyle;
}

export interface ColumnRule {
  /** Glob on the column name, case-insensitive: `*` any run, `?` one character. */
  pattern: string;
  style: MaskStyle;
}

export interface MaskingConfig {
  enabled: boolean;
  detectors: Partial<Record<DetectorName, DetectorSettings>>;
  columnRules: ColumnRule[];
  /** HMAC key for `tokenize` (required when any style is `tokenize`) and for stable `format-preserving`. Never logged. */
  tokenizationKey?: string;
}

/** A sensitive span found in a text: [start, end) in UTF-16 code units. */
export interface Finding {
  detector: DetectorName;
  start: number;
  end: number;
}

/** Counts since the last `takeSummary()`; names only, never values. */
export interface MaskSummary {
  /** Spans masked per detector. */
  detectors: Partial<Record<DetectorName, number>>;
  /** Cells changed per column name (by a column rule or by detectors). */
  columns: Record<string, number>;
  /** Free-text values (`maskText`) that were changed. */
  texts: number;
}
