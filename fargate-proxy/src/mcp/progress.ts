// Approval holds reach the MCP client as progress notifications: the tool call stays open while a
// reviewer decides, and a client that sets `resetTimeoutOnProgress` waits as long as the hold lasts.
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { ServerNotification, ServerRequest } from '@modelcontextprotocol/sdk/types.js';

export type ToolExtra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/** Sends `notifications/progress` when the caller asked for progress (a progressToken); else nothing. */
export function progressReporter(extra: ToolExtra): (message: string) => void {
  const token = extra._meta?.progressToken;
  let n = 0;
  return (message) => {
    if (token === undefined) return;
    n++;
    void extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: n, message } }).catch(() => undefined);
  };
}
