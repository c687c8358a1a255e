// The Slack side of an approval: a Block Kit message with approve / deny buttons, and the parsing of
// the button a reviewer pressed. Button values carry the opaque request id only.
import { DEFAULT_GRANT_MINUTES, parseDecision } from '../../core/approval/index.js';
import type { ApprovalRecord, ReviewerDecision } from '../../core/approval/index.js';

/** Slack mrkdwn control characters. */
function mrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function clip(text: string, max: number): string {
  return text.length > max ? text.slice(0, max - 1) + '…' : text;
}

export function approvalBlocks(record: ApprovalRecord, reviewUrl: string): unknown[] {
  const button = (text: string, value: Record<string, unknown>, style?: 'primary' | 'danger') => ({
    type: 'button',
    text: { type: 'plain_text', text },
    action_id: `airlock_${String(value.verdict)}_${String(value.scope ?? 'none')}`,
    value: JSON.stringify({ id: record.id, ...value }),
    ...(style ? { style } : {}),
  });
  const fields = [
    `*Requester*\n${mrkdwn(record.requester.id)}`,
    `*Target*\n${mrkdwn(record.target.name)} (${mrkdwn(record.target.environment)})`,
    `*Class*\n${mrkdwn(record.statementClass)}`,
    `*Policy*\n${mrkdwn(record.policyIds.join(', ') || '-')}`,
  ];
  const blocks: unknown[] = [
    { type: 'header', text: { type: 'plain_text', text: 'Airlock: statement awaiting approval' } },
    { type: 'section', fields: fields.map((text) => ({ type: 'mrkdwn', text })) },
    // Backticks inside could end the code block early; Slack has no escape for them, so swap them.
    { type: 'section', text: { type: 'mrkdwn', text: '```' + clip(mrkdwn(record.statementText).replace(/`/g, 'ˋ'), 2800) + '```' } },
  ];
  if (record.agentReason) blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `Agent's reason: ${clip(mrkdwn(record.agentReason), 1900)}` }] });
  blocks.push({
    type: 'actions',
    elements: [
      button('Approve once', { verdict: 'approve', scope: 'once' }, 'primary'),
      button(`Approve shape ${DEFAULT_GRANT_MINUTES} min`, { verdict: 'approve', scope: 'shape', minutes: DEFAULT_GRANT_MINUTES }),
      button(`Approve session ${DEFAULT_GRANT_MINUTES} min`, { verdict: 'approve', scope: 'session', minutes: DEFAULT_GRANT_MINUTES }),
      button('Deny', { verdict: 'deny' }, 'danger'),
    ],
  });
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `<${reviewUrl}|Open in the review page> (to deny with your own reason)` }] });
  return blocks;
}

export interface SlackAction {
  requestId: string;
  decision: ReviewerDecision;
  slackUserId: string;
  responseUrl?: string;
}

/** Parses a block_actions payload (the `payload` form field). Undefined when it is not ours. */
export function parseSlackAction(payloadJson: string): SlackAction | undefined {
  let payload: { type?: string; user?: { id?: string; username?: string }; actions?: { value?: string }[]; response_url?: string };
  try {
    payload = JSON.parse(payloadJson) as typeof payload;
  } catch {
    return undefined;
  }
  const raw = payload.actions?.[0]?.value;
  const userId = payload.user?.id;
  if (payload.type !== 'block_actions' || !raw || !userId) return undefined;
  let value: Record<string, unknown>;
  try {
    value = JSON.parse(raw) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof value.id !== 'string') return undefined;
  const input = value.verdict === 'deny' ? { verdict: 'deny', reason: `denied in Slack by ${userId}` } : value;
  const parsed = parseDecision(input);
  if (!parsed.ok) return undefined;
  const action: SlackAction = { requestId: value.id, decision: parsed.decision, slackUserId: userId };
  if (payload.response_url) action.responseUrl = payload.response_url;
  return action;
}
