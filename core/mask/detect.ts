// Runs the enabled detectors a text's signals allow, then keeps non-overlapping findings,
// preferring the more specific detector when two claim the same characters.
import { findAwsSecrets } from './detectors/aws-secret.js';
import { findCards } from './detectors/card.js';
import { findConnectionPasswords } from './detectors/connection-string.js';
import { findEmails } from './detectors/email.js';
import { findIbans } from './detectors/iban.js';
import { findJwts } from './detectors/jwt.js';
import { numericChunks } from './detectors/numeric-chunks.js';
import { findPasswordHashes } from './detectors/password-hash.js';
import { findPhones } from './detectors/phone.js';
import { findPrefixedTokens } from './detectors/prefixed-tokens.js';
import { findPrivateKeys } from './detectors/private-key.js';
import { findSecretAssignments } from './detectors/secret-assignment.js';
import { findSsns } from './detectors/ssn.js';
import { scanSignals, type Signals } from './prefilter.js';
import type { DetectorName, Finding } from './types.js';

const PRIORITY: Record<DetectorName, number> = {
  private_key: 100,
  password_hash: 95,
  jwt: 90,
  aws_access_key: 80,
  aws_secret_key: 80,
  github_token: 80,
  gitlab_token: 80,
  slack_token: 80,
  stripe_key: 80,
  openai_key: 80,
  connection_password: 70,
  iban: 60,
  card: 55,
  ssn: 50,
  email: 45,
  phone: 40,
  secret_assignment: 30,
};

/** Sensitive spans in `text`, sorted by start and non-overlapping; empty when nothing was found. */
export function findSensitive(text: string, enabled: (d: DetectorName) => boolean, signals: Signals | undefined = scanSignals(text)): Finding[] {
  if (!signals) return [];
  const found: Finding[] = [];

  if (signals.digitRun && (enabled('card') || enabled('ssn') || enabled('phone'))) {
    const chunks = numericChunks(text);
    if (enabled('card')) findCards(chunks, found);
    if (enabled('ssn')) findSsns(text, chunks, found);
    if (enabled('phone')) findPhones(text, chunks, found);
  }
  if (signals.at) {
    if (enabled('email')) findEmails(text, found);
    if (enabled('connection_password') && signals.assignment) findConnectionPasswords(text, found);
  }
  if (signals.ibanStart && enabled('iban')) findIbans(text, found);
  if (signals.longToken) {
    findPrefixedTokens(text, enabled, found);
    if (enabled('jwt')) findJwts(text, found);
    if (enabled('aws_secret_key')) {
      findAwsSecrets(text, found.filter((f) => f.detector === 'aws_access_key'), found);
    }
  }
  if (signals.dashes && enabled('private_key')) findPrivateKeys(text, found);
  if (signals.assignment && enabled('secret_assignment')) findSecretAssignments(text, found);
  // SCRAM verifiers always hold ':'; md5 hashes are a 35-character token.
  if ((signals.assignment || signals.longToken) && enabled('password_hash')) findPasswordHashes(text, found);

  if (found.length === 0) return found;
  if (found.length === 1) return found[0]!.end > found[0]!.start ? found : [];
  return resolveOverlaps(found);
}

/** Overlaps are rare and local: resolve each cluster of overlapping findings on its own (near-linear). */
function resolveOverlaps(found: Finding[]): Finding[] {
  const sorted = found.filter((f) => f.end > f.start).sort((a, b) => a.start - b.start);
  const result: Finding[] = [];
  let cluster: Finding[] = [];
  let clusterEnd = -1;
  for (const f of sorted) {
    if (f.start >= clusterEnd && cluster.length > 0) {
      result.push(...resolveCluster(cluster));
      cluster = [];
    }
    cluster.push(f);
    clusterEnd = Math.max(clusterEnd, f.end);
  }
  result.push(...resolveCluster(cluster));
  return result;
}

function resolveCluster(cluster: Finding[]): Finding[] {
  if (cluster.length <= 1) return cluster;
  const ranked = [...cluster].sort(
    (a, b) => PRIORITY[b.detector] - PRIORITY[a.detector] || b.end - b.start - (a.end - a.start) || a.start - b.start,
  );
  const kept: Finding[] = [];
  for (const f of ranked) {
    if (!kept.some((k) => f.start < k.end && k.start < f.end)) kept.push(f);
  }
  return kept.sort((a, b) => a.start - b.start);
}
