// Slack request signing: v0=HMAC-SHA256(signingSecret, "v0:{timestamp}:{raw body}"), hex.
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SLACK_TOLERANCE_SECONDS = 5 * 60;

export function verifySlackSignature(args: {
  signingSecret: string;
  timestamp: string | undefined;
  signature: string | undefined;
  rawBody: string;
  nowSeconds?: number;
}): boolean {
  const { signingSecret, timestamp, signature, rawBody } = args;
  if (!timestamp || !signature || !/^\d+$/.test(timestamp)) return false;
  const now = args.nowSeconds ?? Math.floor(Date.now() / 1000);
  // Old requests are refused so a captured one cannot be replayed later.
  if (Math.abs(now - Number(timestamp)) > SLACK_TOLERANCE_SECONDS) return false;
  const expected = Buffer.from('v0=' + createHmac('sha256', signingSecret).update(`v0:${timestamp}:${rawBody}`).digest('hex'));
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
