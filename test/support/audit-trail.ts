// Every integration test that ends a session abnormally (fuzz, fatal errors, oversize messages,
// shutdown during a hold, kill -9) finishes with `airlock audit verify` on its trail: an abnormal
// end must never read as tampering. Runs the CLI's own command, in-process (no second Node start).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { auditVerifyCommand } from '../../fargate-proxy/src/cli/audit-commands.js';
import type { VerifyReport } from '../../core/audit/verify.js';

/** The audit directory of a gateway whose data directory is `<dir>/data` (test/support/gateway.ts). */
export const auditDirOf = (gw: { dir: string }): string => join(gw.dir, 'data', 'audit');

/**
 * Runs `airlock audit verify --dir DIR` and fails the test, with the command's own report, unless
 * it passes. Accepts a TestGateway or an audit directory.
 */
export async function expectAuditVerifies(where: string | { dir: string }): Promise<VerifyReport> {
  const dir = typeof where === 'string' ? where : auditDirOf(where);
  let text = '';
  const code = await auditVerifyCommand({ dir, format: 'json' }, { write: (t: string) => (text += t) });
  let report: VerifyReport | undefined;
  try {
    report = JSON.parse(text) as VerifyReport;
  } catch {
    assert.fail(`airlock audit verify printed no report (exit ${code}): ${text}`);
  }
  assert.equal(code, 0, `airlock audit verify failed on ${dir}:\n${report.problems.map((p) => `  [${p.kind}] ${p.sessionId ?? ''} ${p.message}`).join('\n')}`);
  assert.ok(report.sessions > 0, `airlock audit verify found no session in ${dir}`);
  return report;
}
