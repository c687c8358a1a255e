// Synthesizes the Airlock stack the way `cdk synth` does (cdk-nag included) into a temporary
// directory, so infra tests can read the template, the nag report and the bundled assets.
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lambdasEntry } from '../../lib/airlock-function.js';
import { AirlockStack, type AirlockSettings } from '../../lib/airlock-stack.js';

export interface Violation {
  ruleName: string;
  severity: string;
  description: string;
  paths: string[];
}

export interface SynthResult {
  outdir: string;
  stack: AirlockStack;
  template: Record<string, any>;
  /** Every cdk-nag (and CloudFormation validation) finding left unacknowledged. */
  violations: Violation[];
  synthError?: string;
}

/** Handlers other helpers own; the stack cannot be synthesized without them. */
export function missingHandlers(): string[] {
  return ['policy', 'approval-notifier', 'approval-decision', 'approval-expire']
    .map((name) => lambdasEntry(name))
    .filter((path) => !existsSync(path));
}

export function synthAirlock(settings: AirlockSettings, stackName = 'AirlockTest'): SynthResult {
  const outdir = mkdtempSync(join(tmpdir(), 'airlock-cdk-'));
  const app = new App({ outdir });
  const stack = new AirlockStack(app, stackName, { settings });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  let synthError: string | undefined;
  try {
    app.synth();
  } catch (err) {
    // Validation failures still write the template and the report; the test reports them.
    synthError = (err as Error).message.split('\n')[0];
  }
  const reportPath = join(outdir, 'validation-report.json');
  const report = existsSync(reportPath) ? JSON.parse(readFileSync(reportPath, 'utf8')) : { pluginReports: [] };
  const violations: Violation[] = report.pluginReports.flatMap((plugin: any) =>
    plugin.violations.map((v: any) => ({
      ruleName: `${plugin.pluginName}:${v.ruleName}`,
      severity: v.severity,
      description: v.description,
      paths: v.violatingConstructs.map((c: any) => c.constructPath),
    })),
  );
  const templatePath = join(outdir, `${stackName}.template.json`);
  const template = existsSync(templatePath) ? JSON.parse(readFileSync(templatePath, 'utf8')) : {};
  return { outdir, stack, template, violations, synthError };
}

const PSEUDO: Record<string, string> = {
  'AWS::Partition': 'aws',
  'AWS::Region': 'eu-west-1',
  'AWS::AccountId': '123456789012',
  'AWS::URLSuffix': 'amazonaws.com',
};

/**
 * Replaces CloudFormation intrinsics with plausible literals so a joined string (a state machine
 * definition, a rendered config) can be parsed as the service would see it after deployment.
 */
export function flattenIntrinsics(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(flattenIntrinsics);
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if ('Fn::Join' in o) {
      const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
      return parts.map((p) => String(flattenIntrinsics(p))).join(sep);
    }
    if ('Ref' in o) return PSEUDO[o.Ref as string] ?? `ref-${String(o.Ref)}`;
    if ('Fn::GetAtt' in o) {
      const [id, attr] = o['Fn::GetAtt'] as [string, string];
      if (attr === 'FunctionUrl') return `https://${id}.lambda-url.eu-west-1.on.aws/`;
      return attr === 'Arn' ? `arn:aws:lambda:eu-west-1:123456789012:function:${id}` : `${id}-${attr}`;
    }
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, flattenIntrinsics(v)]));
  }
  return value;
}

export function resourcesOfType(template: Record<string, any>, type: string): Array<[string, any]> {
  return Object.entries(template.Resources ?? {}).filter(([, r]: [string, any]) => r.Type === type) as Array<[string, any]>;
}
