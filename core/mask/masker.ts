// The masker a session holds: plans columns once per result set, masks cells and free text, and
// counts what it masked for the audit trail (names and counts only, never values).
import { randomBytes, createHmac } from 'node:crypto';
import { compileColumnRules } from './column-rules.js';
import { parseMaskingConfig } from './config.js';
import { findSensitive } from './detect.js';
import { scanSignalsInBytes, type Signals } from './prefilter.js';
import { insideJsonStrings, looksLikeJson } from './json-context.js';
import { applyStyle, type MaskLabel, type StyleKeys } from './styles.js';
import type { DetectorName, Finding, MaskingConfig, MaskStyle, MaskSummary } from './types.js';

/** Per result set: the column-rule style of each column (undefined = detectors decide). */
export interface ColumnPlan {
  readonly names: readonly string[];
  readonly styles: readonly (MaskStyle | undefined)[];
}

export interface Masker {
  /** Once per result set (e.g. on a RowDescription). */
  planColumns(names: string[]): ColumnPlan;
  /** The masked cell, or undefined when it is unchanged (the common case allocates nothing). */
  maskCell(value: string, plan: ColumnPlan, columnIndex: number): string | undefined;
  /** maskCell of the UTF-8 text bytes[start, end): a cell the detectors cannot match is never decoded. */
  maskCellBytes(bytes: Buffer, start: number, end: number, plan: ColumnPlan, columnIndex: number): string | undefined;
  /** Free text: notices, error details, notifications, command output. undefined = unchanged. */
  maskText(value: string): string | undefined;
  /** Counts since the previous call, then resets them. */
  takeSummary(): MaskSummary;
}

export function createMasker(config: MaskingConfig): Masker {
  const cfg = parseMaskingConfig(config);
  const disabled = new Set<DetectorName>();
  for (const [name, settings] of Object.entries(cfg.detectors) as [DetectorName, { enabled?: boolean }][]) {
    if (settings?.enabled === false) disabled.add(name);
  }
  const enabled = (d: DetectorName): boolean => !disabled.has(d);
  const styleOf = (d: DetectorName): MaskStyle => cfg.detectors[d]?.style ?? 'redact';
  const columnStyle = compileColumnRules(cfg.columnRules);
  const keys: StyleKeys = {
    token: cfg.tokenizationKey === undefined ? undefined : Buffer.from(cfg.tokenizationKey, 'utf8'),
    // Without a tenant key, format-preserving output is stable only for this masker's lifetime.
    formatPreserving:
      cfg.tokenizationKey === undefined
        ? randomBytes(32)
        : createHmac('sha256', cfg.tokenizationKey).update('airlock/format-preserving').digest(),
  };

  let summary = emptySummary();

  function maskFindings(text: string, findings: Finding[]): string {
    const only = findings.length === 1 ? findings[0]! : undefined;
    if (only && only.start === 0 && only.end === text.length && !looksLikeJson(text)) {
      // The whole value (an e-mail column, say): nothing to splice.
      summary.detectors[only.detector] = (summary.detectors[only.detector] ?? 0) + 1;
      return applyStyle(styleOf(only.detector), only.detector, text, keys);
    }
    const quoteOutside = looksLikeJson(text)
      ? insideJsonStrings(text, findings.map((f) => f.start)).map((inside) => !inside)
      : undefined;
    let out = '';
    let last = 0;
    findings.forEach((f, k) => {
      let replacement = applyStyle(styleOf(f.detector), f.detector, text.slice(f.start, f.end), keys);
      if (quoteOutside?.[k] && !/^[0-9+-]*$/.test(replacement)) replacement = `"${replacement}"`;
      out += text.slice(last, f.start) + replacement;
      last = f.end;
      summary.detectors[f.detector] = (summary.detectors[f.detector] ?? 0) + 1;
    });
    return out + text.slice(last);
  }

  function maskWithDetectors(value: string, signals?: Signals): string | undefined {
    const findings = signals ? findSensitive(value, enabled, signals) : findSensitive(value, enabled);
    return findings.length === 0 ? undefined : maskFindings(value, findings);
  }

  function countColumn(plan: ColumnPlan, columnIndex: number): void {
    const name = plan.names[columnIndex] ?? `#${columnIndex}`;
    summary.columns[name] = (summary.columns[name] ?? 0) + 1;
  }

  function maskByRule(value: string, style: MaskStyle, plan: ColumnPlan, columnIndex: number): string | undefined {
    if (value.length === 0) return undefined;
    countColumn(plan, columnIndex);
    return applyStyle(style, 'column' satisfies MaskLabel, value, keys);
  }

  function maskByDetectors(value: string, signals: Signals | undefined, plan: ColumnPlan, columnIndex: number): string | undefined {
    const masked = maskWithDetectors(value, signals);
    if (masked !== undefined) countColumn(plan, columnIndex);
    return masked;
  }

  return {
    planColumns(names) {
      return { names: [...names], styles: names.map((n) => (cfg.enabled ? columnStyle(n) : undefined)) };
    },
    maskCell(value, plan, columnIndex) {
      if (!cfg.enabled) return undefined;
      const ruleStyle = plan.styles[columnIndex];
      if (ruleStyle !== undefined) return maskByRule(value, ruleStyle, plan, columnIndex);
      return maskByDetectors(value, undefined, plan, columnIndex);
    },
    maskCellBytes(bytes, start, end, plan, columnIndex) {
      if (!cfg.enabled) return undefined;
      const ruleStyle = plan.styles[columnIndex];
      if (ruleStyle !== undefined) return maskByRule(bytes.toString('utf8', start, end), ruleStyle, plan, columnIndex);
      const signals = scanSignalsInBytes(bytes, start, end);
      return signals && maskByDetectors(bytes.toString('utf8', start, end), signals, plan, columnIndex);
    },
    maskText(value) {
      if (!cfg.enabled) return undefined;
      const masked = maskWithDetectors(value);
      if (masked !== undefined) summary.texts++;
      return masked;
    },
    takeSummary() {
      const taken = summary;
      summary = emptySummary();
      return taken;
    },
  };
}

function emptySummary(): MaskSummary {
  return { detectors: {}, columns: {}, texts: 0 };
}
