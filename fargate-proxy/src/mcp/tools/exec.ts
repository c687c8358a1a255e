// `exec`: one command through the gateway's SSH listener, as `ssh <target>@gateway 'command'` would
// run it (the target as the user name, the token as the password, the gateway's host key pinned).
// The listener parses, decides, holds, audits and masks; this relays its output and exit status.
import ssh2 from 'ssh2';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { sshHostKeyPinned, type GatewayEndpoints } from '../endpoints.js';
import { sshFailure, toolError } from '../refusals.js';

export interface ExecArgs {
  target: string;
  command: string;
}

/** The gateway's exit status for a refused command (protocols/ssh/session.ts REFUSED_EXIT_STATUS). */
const REFUSED_EXIT_STATUS = 126;
const MAX_OUTPUT_BYTES = 512 * 1024;

export function runExec(endpoint: GatewayEndpoints['ssh'], token: string, args: ExecArgs, onHold: (message: string) => void, signal: AbortSignal): Promise<CallToolResult> {
  if (!endpoint) return Promise.resolve(toolError({ code: 'protocol_unavailable', message: 'this gateway has no SSH listener' }));
  return new Promise((resolve) => {
    const conn = new ssh2.Client();
    let settled = false;
    const done = (r: CallToolResult) => {
      if (settled) return;
      settled = true;
      conn.end();
      resolve(r);
    };
    signal.addEventListener('abort', () => done(toolError({ code: 'cancelled', message: 'the tool call was cancelled; the command was abandoned' })), { once: true });
    conn.on('error', (err: Error & { level?: string }) =>
      done(
        toolError(
          err.level === 'client-authentication'
            ? { code: 'token_invalid', message: 'the gateway refused the token (or the target is not open to you)' }
            : { code: 'gateway_unreachable', message: `the gateway's SSH listener: ${err.message}` },
        ),
      ),
    );
    conn.on('ready', () => {
      conn.exec(args.command, (err, channel) => {
        if (err) return done(toolError({ code: 'exec_failed', message: err.message }));
        const out = new Capture();
        const errOut = new Capture();
        let exit: { code: number | null; signal?: string } | undefined;
        channel.on('data', (d: Buffer) => out.add(d));
        channel.stderr.on('data', (d: Buffer) => {
          errOut.add(d);
          // The gateway's hold line on stderr (protocols/ssh/approval-hold.ts): the command waits for a reviewer.
          for (const line of d.toString('utf8').split('\n')) if (/^airlock: .*needs approval/.test(line)) onHold(line);
        });
        channel.on('exit', (code: number | null, sig?: string) => (exit = { code, signal: sig }));
        channel.on('close', () => {
          const stderr = errOut.text();
          if (exit?.code === REFUSED_EXIT_STATUS && /^airlock: (refused|code=)/m.test(stderr)) return done(toolError(sshFailure(stderr, REFUSED_EXIT_STATUS)));
          const body = { exitStatus: exit?.code ?? null, ...(exit?.signal && { signal: exit.signal }), stdout: out.text(), stderr };
          done({ content: [{ type: 'text', text: JSON.stringify(body, null, 1) }], ...(exit?.code !== 0 && { isError: true }) });
        });
      });
    });
    conn.connect({
      host: endpoint.host,
      port: endpoint.port,
      username: args.target,
      password: token,
      tryKeyboard: false,
      readyTimeout: 15_000,
      hostVerifier: (key: Buffer) => sshHostKeyPinned(endpoint.hostKeys, key),
    });
  });
}

/** Output kept up to a bound; the rest is counted. */
class Capture {
  #parts: Buffer[] = [];
  #size = 0;
  #dropped = 0;
  add(d: Buffer): void {
    if (this.#size >= MAX_OUTPUT_BYTES) {
      this.#dropped += d.length;
      return;
    }
    const keep = d.subarray(0, MAX_OUTPUT_BYTES - this.#size);
    this.#parts.push(keep);
    this.#size += keep.length;
    this.#dropped += d.length - keep.length;
  }
  text(): string {
    const t = Buffer.concat(this.#parts).toString('utf8');
    return this.#dropped ? `${t}\n… (${this.#dropped} more bytes not shown)` : t;
  }
}
