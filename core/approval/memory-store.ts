// An in-process ApprovalStore: the local gateway's store, and the reference the DynamoDB one must match.
import { isHeldLive, type ApprovalRecord, type ApprovalStore, type HeldRequest, type Settlement, type StandingGrant } from './types.js';

export class MemoryApprovalStore implements ApprovalStore {
  private readonly records = new Map<string, ApprovalRecord>();
  private readonly grants = new Map<string, StandingGrant>();
  private readonly held = new Map<string, HeldRequest>();

  async create(record: ApprovalRecord): Promise<void> {
    if (this.records.has(record.id)) throw new Error(`approval ${record.id} already exists`);
    this.records.set(record.id, structuredClone(record));
  }

  async get(id: string): Promise<ApprovalRecord | undefined> {
    const r = this.records.get(id);
    return r && structuredClone(r);
  }

  async listPending(): Promise<ApprovalRecord[]> {
    return [...this.records.values()].filter((r) => r.state === 'pending').map((r) => structuredClone(r));
  }

  async settle(id: string, settlement: Settlement): Promise<{ won: boolean; record: ApprovalRecord | undefined }> {
    const current = this.records.get(id);
    if (!current) return { won: false, record: undefined };
    if (current.state !== 'pending') return { won: false, record: structuredClone(current) };
    const next = { ...current, ...settlement };
    this.records.set(id, next);
    return { won: true, record: structuredClone(next) };
  }

  async putGrant(grant: StandingGrant): Promise<void> {
    this.grants.set(grant.key, { ...grant });
  }

  async getGrant(key: string): Promise<StandingGrant | undefined> {
    const g = this.grants.get(key);
    return g && { ...g };
  }

  async holdRequest(h: HeldRequest, now: number): Promise<{ won: boolean; current: HeldRequest | undefined }> {
    const current = this.held.get(h.key);
    if (isHeldLive(current, now)) return { won: false, current: { ...current } };
    // Bounded: past their approval's lifetime held records name nothing a retry can use.
    if (this.held.size >= 1024) for (const [k, v] of this.held) if (v.expiresAt <= now) this.held.delete(k);
    this.held.set(h.key, { ...h });
    return { won: true, current: { ...h } };
  }

  async getHeld(key: string): Promise<HeldRequest | undefined> {
    const h = this.held.get(key);
    return h && { ...h };
  }

  async useHeld(key: string, approvalId: string, now: number): Promise<boolean> {
    const h = this.held.get(key);
    if (!h || h.approvalId !== approvalId || h.usedAt !== undefined) return false;
    h.usedAt = now;
    return true;
  }
}
