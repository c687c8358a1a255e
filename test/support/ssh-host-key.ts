// An Ed25519 host key in OpenSSH format for a gateway started by a test or the bench. ssh2's own
// generator now and then writes a key its parser rejects ("Malformed OpenSSH private key": 13 of
// 3,000 here), which failed whole test files at random; such a key is simply generated again.
import ssh2 from 'ssh2';

export function generateSshHostKey(): string {
  for (let attempt = 0; attempt < 100; attempt++) {
    const key = ssh2.utils.generateKeyPairSync('ed25519').private;
    if (!(ssh2.utils.parseKey(key) instanceof Error)) return key;
  }
  throw new Error('ssh2 generated no parseable Ed25519 host key in 100 attempts');
}
