// The Slack app's settings, from a Secrets Manager secret (JSON). Cached for the container's life
// with a short TTL so a rotation is picked up.
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

export interface SlackConfig {
  botToken: string;
  channel: string;
  signingSecret: string;
  /** Slack user id → reviewer principal id. Only mapped users may decide from Slack. */
  reviewers?: Record<string, string>;
}

const TTL_MS = 5 * 60_000;

export function slackConfigLoader(client: SecretsManagerClient, secretArn: string | undefined): () => Promise<SlackConfig | undefined> {
  let cached: { at: number; value: SlackConfig } | undefined;
  return async () => {
    if (!secretArn) return undefined;
    if (cached && Date.now() - cached.at < TTL_MS) return cached.value;
    const out = await client.send(new GetSecretValueCommand({ SecretId: secretArn }));
    const parsed = JSON.parse(out.SecretString ?? '{}') as Partial<SlackConfig>;
    if (!parsed.botToken || !parsed.channel || !parsed.signingSecret) {
      throw new Error('Slack secret must hold botToken, channel and signingSecret');
    }
    const value: SlackConfig = { botToken: parsed.botToken, channel: parsed.channel, signingSecret: parsed.signingSecret };
    if (parsed.reviewers) value.reviewers = parsed.reviewers;
    cached = { at: Date.now(), value };
    return value;
  };
}
