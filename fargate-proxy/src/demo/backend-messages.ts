// The few backend messages the demo database's login front has to write itself.
// Everything after login comes from PGlite unchanged, apart from the waiting notice and error.

function message(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}

export const authentication = {
  cleartextPassword: (): Buffer => message('R', int32(3)),
  md5Password: (salt: Buffer): Buffer => message('R', Buffer.concat([int32(5), salt])),
  sasl: (mechanism: string): Buffer => message('R', Buffer.concat([int32(10), Buffer.from(`${mechanism}\0\0`)])),
  saslContinue: (data: string): Buffer => message('R', Buffer.concat([int32(11), Buffer.from(data)])),
  saslFinal: (data: string): Buffer => message('R', Buffer.concat([int32(12), Buffer.from(data)])),
};

/** A FATAL ErrorResponse, as PostgreSQL sends before closing a login it refuses. */
export function fatalError(sqlState: string, text: string, hint?: string): Buffer {
  const fields = [`SFATAL`, `VFATAL`, `C${sqlState}`, `M${text}`, ...(hint ? [`H${hint}`] : [])].map((f) => `${f}\0`).join('');
  return message('E', Buffer.from(`${fields}\0`));
}

/** A NoticeResponse: PostgreSQL may send one at any time, and clients show it as it arrives. */
export function notice(text: string, hint?: string): Buffer {
  const fields = [`SNOTICE`, `VNOTICE`, `C00000`, `M${text}`, ...(hint ? [`H${hint}`] : [])].map((f) => `${f}\0`).join('');
  return message('N', Buffer.from(`${fields}\0`));
}
