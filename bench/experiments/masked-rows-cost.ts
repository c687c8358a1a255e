// Masking cost per DataRow, off the network: the bench's masked-stream rows (an id, a name, an e-mail
// the detectors must rewrite, padding) run through the session's ResultMasker. MiB/s of row bytes.
import { createMasker, DEFAULT_MASKING_CONFIG } from '../../core/mask/index.js';
import { ResultMasker } from '../../fargate-proxy/src/protocols/postgres/result-masking.js';
import { B, backendMessage } from '../../fargate-proxy/src/protocols/postgres/backend.js';
import { RewriteSlab } from '../../fargate-proxy/src/protocols/postgres/rewrite-slab.js';

function rowDescription(names: string[], types: number[]): Buffer {
  const parts: Buffer[] = [Buffer.from([0, names.length])];
  names.forEach((n, i) => {
    const b = Buffer.alloc(18);
    b.writeInt32BE(types[i]!, 6);
    parts.push(Buffer.from(n + '\0'), b);
  });
  return Buffer.concat(parts);
}
function dataRow(cells: string[]): Buffer {
  const parts: Buffer[] = [Buffer.from([0, cells.length])];
  for (const c of cells) {
    const v = Buffer.from(c);
    const l = Buffer.alloc(4);
    l.writeInt32BE(v.length);
    parts.push(l, v);
  }
  return Buffer.concat(parts);
}

const ROWS = Number(process.argv[2] ?? 200_000);
const withEmail = process.argv[3] !== 'clean';
// `rewrite`: the relay's path (the row read where it lies in a socket read, rewritten rows written back
// to back, one view per read, as BackendScanner does); otherwise the per-message path (a Buffer per row).
const rewrite = process.argv.includes('rewrite');
const rows: Buffer[] = [];
for (let g = 1; g <= ROWS; g++) rows.push(dataRow([String(g), `customer ${g}`, withEmail ? `user${g}@example.com` : `user ${g} example`, 'x'.repeat(60)]));
const bytes = rows.reduce((n, r) => n + r.length + 5, 0);
const reads: Buffer[] = [];
for (let i = 0; i < rows.length; ) {
  const batch: Buffer[] = [];
  for (let size = 0; i < rows.length && size < 64 * 1024; i++) {
    batch.push(backendMessage(B.DataRow, rows[i]!));
    size += rows[i]!.length + 5;
  }
  reads.push(Buffer.concat(batch));
}
const masker = new ResultMasker(createMasker(DEFAULT_MASKING_CONFIG));
masker.rowDescription(rowDescription(['id', 'name', 'email', 'pad'], [23, 25, 25, 25]));
for (let round = 0; round < 5; round++) {
  const t0 = process.cpuUsage();
  let out = 0;
  if (rewrite) {
    // Rows as they arrive: ~64 KiB socket reads of whole messages.
    const slab = new RewriteSlab();
    for (const read of reads) {
      for (let at = 0; at < read.length; ) {
        const end = at + 1 + read.readInt32BE(at + 1);
        if (!masker.rewriteDataRow(read, at, end, slab)) out += end - at;
        at = end;
      }
      slab.flush((b) => (out += b.length));
      slab.release();
    }
  } else {
    for (const r of rows) out += masker.dataRow(r, backendMessage(B.DataRow, r)).length;
  }
  const u = process.cpuUsage(t0);
  const s = (u.user + u.system) / 1e6;
  masker.takeSummary();
  console.log(`round ${round}: ${(bytes / 2 ** 20 / s).toFixed(1)} MiB/s of CPU (${((s / ROWS) * 1e6).toFixed(2)} µs/row, out ${out})`);
}
