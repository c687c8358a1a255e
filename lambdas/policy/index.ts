// The policy Lambda: thin wiring of PolicyService to the Lambda runtime, S3 and Powertools.
import { S3Client } from '@aws-sdk/client-s3';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { PolicyBundleStore } from './bundle-store.js';
import { PolicyService, type PolicyResponse } from './policy-service.js';

const logger = new Logger({ serviceName: 'policy' });
const metrics = new Metrics({ namespace: 'Airlock', serviceName: 'policy' });

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is not set`);
  return value;
}

let service: PolicyService | undefined;
function policyService(): PolicyService {
  service ??= new PolicyService({
    store: new PolicyBundleStore({
      client: new S3Client({}),
      bucket: requiredEnv('AIRLOCK_POLICY_BUCKET'),
      currentKey: process.env.AIRLOCK_POLICY_CURRENT_KEY ?? 'policy/current.json',
    }),
  });
  return service;
}

/**
 * Publishing is idempotent by construction (bundles are named by their content hash and the
 * pointer write is a plain overwrite), so a retried invocation cannot double-act.
 */
export async function handler(event: unknown, context?: Context): Promise<PolicyResponse> {
  if (context) logger.addContext(context);
  try {
    const response = await policyService().handle(event);
    // Policy text and principals stay out of the logs: only the outcome and the version.
    logger.info('policy request', {
      action: response.action,
      ok: response.ok,
      version: 'version' in response ? response.version : undefined,
      effect: 'decision' in response ? response.decision.effect : undefined,
      errors: response.ok ? undefined : response.errors.length,
    });
    metrics.addDimension('action', response.action);
    metrics.addMetric(response.ok ? 'PolicyRequests' : 'PolicyRequestsRejected', MetricUnit.Count, 1);
    if (response.ok && response.action === 'authorizeConnect' && response.decision.effect !== 'allow') {
      metrics.addMetric('ConnectRefusals', MetricUnit.Count, 1);
    }
    return response;
  } finally {
    metrics.publishStoredMetrics();
  }
}
