// Agents explain a risky statement to its reviewer with a comment inside the statement itself,
// e.g. `-- airlock-reason: add the index for ticket OPS-42` or `/* airlock-reason: … */`, so it
// works with any client and needs no protocol extension.
const REASON = /(?:--|\/\*|#)[ \t]*airlock-reason:[ \t]*(.+?)[ \t]*(?:\*\/|$)/im;
const MAX_REASON = 500;

export function agentReasonFrom(text: string): string | undefined {
  const m = REASON.exec(text);
  const reason = m?.[1]?.trim();
  return reason ? reason.slice(0, MAX_REASON) : undefined;
}
