#!/usr/bin/env node
// CDK app entry (cdk.json "app"). Environment-agnostic unless CDK_DEFAULT_* are set, so
// `cdk synth` needs no credentials; cdk-nag AwsSolutions runs on every synth.
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { AirlockStack } from '../lib/airlock-stack.js';
import { settingsFromContext } from '../lib/context-settings.js';

const app = new App();
const stackName = (app.node.tryGetContext('airlock:stackName') as string | undefined) ?? 'Airlock';
new AirlockStack(app, stackName, {
  settings: settingsFromContext(app.node),
  description: 'Airlock: gateway between AI agents and production systems',
  env:
    process.env.CDK_DEFAULT_ACCOUNT && process.env.CDK_DEFAULT_REGION
      ? { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION }
      : undefined,
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
