import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { NodejsFunction, OutputFormat, type ICommandHooks } from 'aws-cdk-lib/aws-lambda-nodejs';
import { Construct } from 'constructs';
import { acknowledge, nagArn } from './nag-acknowledgements.js';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root: every asset path (handlers, Dockerfile) is resolved from here, not from the caller's cwd. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The handler source for a Lambda folder, e.g. `lambdasEntry('policy')` → `<repo>/lambdas/policy/index.ts`. */
export function lambdasEntry(name: string): string {
  return join(REPO_ROOT, 'lambdas', name, 'index.ts');
}

export interface AirlockFunctionProps {
  /** Absolute path of the TypeScript handler (exporting `handler`). */
  entry: string;
  /** Short service name: Powertools `serviceName`, log group and metric dimension. */
  serviceName: string;
  description: string;
  environment?: Record<string, string>;
  timeout?: Duration;
  memorySize?: number;
  /** Key encrypting the function's log group and environment. */
  key: kms.IKey;
  logRetention: logs.RetentionDays;
  /** Reserved concurrency: a cap (and a guarantee) on simultaneous executions. */
  reservedConcurrentExecutions?: number;
  /** Files copied next to the bundle (e.g. a WASM module a dependency reads from its own directory). */
  copyFiles?: string[];
}

/**
 * A Node.js Lambda bundled by the local esbuild (never Docker, so `cdk synth` runs anywhere),
 * with its own encrypted log group and a role that may write only to that log group:
 * the managed AWSLambdaBasicExecutionRole would grant logs on every group in the account.
 */
export class AirlockFunction extends Construct {
  readonly function: NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: AirlockFunctionProps) {
    super(scope, id);
    if (!existsSync(props.entry)) {
      throw new Error(`Lambda handler not found: ${props.entry}`);
    }

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention,
      encryptionKey: props.key,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `${props.serviceName} Lambda: writes its own logs only`,
    });
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [this.logGroup.logGroupArn, `${this.logGroup.logGroupArn}:log-stream:*`],
      }),
    );

    acknowledge(
      this.role,
      `AwsSolutions-IAM5[Resource::${nagArn(this.logGroup)}:log-stream:*]`,
      'Lambda names its log streams per execution environment; the grant is confined to this function\'s own log group',
    );

    const copyFiles = props.copyFiles ?? [];
    const commandHooks: ICommandHooks = {
      beforeBundling: () => [],
      beforeInstall: () => [],
      afterBundling: (_inputDir: string, outputDir: string) =>
        copyFiles.map((file) => `cp "${file}" "${outputDir}/"`),
    };

    this.function = new NodejsFunction(this, 'Function', {
      entry: props.entry,
      handler: 'handler',
      description: props.description,
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(30),
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      environmentEncryption: props.key,
      projectRoot: REPO_ROOT,
      depsLockFilePath: join(REPO_ROOT, 'package-lock.json'),
      environment: {
        POWERTOOLS_SERVICE_NAME: props.serviceName,
        POWERTOOLS_METRICS_NAMESPACE: 'Airlock',
        NODE_OPTIONS: '--enable-source-maps',
        ...props.environment,
      },
      bundling: {
        forceDockerBundling: false,
        format: OutputFormat.ESM,
        target: 'node24',
        sourceMap: true,
        minify: true,
        mainFields: ['module', 'main'],
        // The SDK v3 ships with the runtime; bundling it would only slow cold starts.
        externalModules: ['@aws-sdk/*'],
        // ESM bundles lack the CommonJS globals some dependencies (cedar-wasm's loader) still read.
        banner:
          "import { createRequire as __airlockRequire } from 'node:module';" +
          "import { fileURLToPath as __airlockPath } from 'node:url';" +
          'const require = __airlockRequire(import.meta.url);' +
          'const __filename = __airlockPath(import.meta.url);' +
          "const __dirname = __filename.slice(0, __filename.lastIndexOf('/'));",
        commandHooks,
      },
    });
  }
}
