import { Logger } from '@aws-lambda-powertools/logger';

/** Structured JSON logs. Callers log ids and states only: never tokens, task tokens or secrets. */
export function lambdaLogger(serviceName: string): Logger {
  return new Logger({ serviceName });
}
