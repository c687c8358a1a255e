import { z } from 'zod';
import { AIRLOCK_SCHEMA, checkPolicy, compilePolicySet, PolicyError, type PolicyEngine } from '../../core/policy/index.js';
import type { Decision } from '../../core/model.js';
import type { PolicyBundle, PolicyBundleStore, PolicyPointer } from './bundle-store.js';

const principal = z.object({
  id: z.string().min(1),
  groups: z.array(z.string()),
  issuer: z.string().min(1),
  tokenId: z.string().optional(),
  clientId: z.string().optional(),
  expiresAt: z.number().optional(),
});
const target = z.object({
  name: z.string().min(1),
  kind: z.enum(['postgres', 'ssh', 'kube', 'http', 'kubernetes']),
  environment: z.string(),
  tags: z.record(z.string(), z.string()),
});
const policyText = { policies: z.string().min(1).max(1_000_000), schema: z.string().max(1_000_000).optional() };

/** Everything the policy Lambda answers. */
export const policyRequest = z.discriminatedUnion('action', [
  z.object({ action: z.literal('check'), ...policyText }),
  z.object({
    action: z.literal('publish'),
    ...policyText,
    description: z.string().max(1000).optional(),
    publishedBy: z.string().max(200).optional(),
  }),
  /** Roll back (or forward) to a version published earlier. */
  z.object({ action: z.literal('activate'), version: z.string().min(1) }),
  z.object({ action: z.literal('current') }),
  z.object({ action: z.literal('authorizeConnect'), principal, target }),
]);
export type PolicyRequest = z.infer<typeof policyRequest>;

export type PolicyResponse =
  | { ok: true; action: 'check'; version: string; warnings: string[] }
  | { ok: true; action: 'publish' | 'activate'; version: string; key: string; warnings: string[] }
  | { ok: true; action: 'current'; pointer: PolicyPointer | null }
  | { ok: true; action: 'authorizeConnect'; decision: Decision }
  | { ok: false; action: string; errors: string[] };

export interface PolicyServiceOptions {
  store: PolicyBundleStore;
  now?: () => Date;
  /** How long the live pointer is trusted before it is read again (hot reload latency). */
  pointerTtlMs?: number;
}

/** What the policy Lambda does, free of the Lambda runtime: validate, publish, activate, decide. */
export class PolicyService {
  private readonly now: () => Date;
  private readonly pointerTtlMs: number;
  private engine: PolicyEngine | undefined;
  private pointerReadAt = -Infinity;

  constructor(private readonly options: PolicyServiceOptions) {
    this.now = options.now ?? (() => new Date());
    this.pointerTtlMs = options.pointerTtlMs ?? 10_000;
  }

  async handle(raw: unknown): Promise<PolicyResponse> {
    const parsed = policyRequest.safeParse(raw);
    if (!parsed.success) {
      const action = typeof (raw as { action?: unknown })?.action === 'string' ? String((raw as { action: string }).action) : 'unknown';
      return { ok: false, action, errors: parsed.error.issues.map((i) => `${i.path.join('.') || '(request)'}: ${i.message}`) };
    }
    const request = parsed.data;
    switch (request.action) {
      case 'check':
        return this.check(request.policies, request.schema);
      case 'publish':
        return this.publish(request);
      case 'activate':
        return this.activate(request.version);
      case 'current':
        return { ok: true, action: 'current', pointer: (await this.options.store.current()) ?? null };
      case 'authorizeConnect':
        return { ok: true, action: 'authorizeConnect', decision: await this.authorizeConnect(request.principal, request.target) };
    }
  }

  private check(policies: string, schema = AIRLOCK_SCHEMA): PolicyResponse {
    const result = checkPolicy(policies, schema);
    if (!result.ok) return { ok: false, action: 'check', errors: result.errors };
    return { ok: true, action: 'check', version: compilePolicySet(policies, schema).version, warnings: result.warnings };
  }

  private async publish(request: Extract<PolicyRequest, { action: 'publish' }>): Promise<PolicyResponse> {
    const schema = request.schema ?? AIRLOCK_SCHEMA;
    const result = checkPolicy(request.policies, schema);
    if (!result.ok) return { ok: false, action: 'publish', errors: result.errors };
    const engine = compilePolicySet(request.policies, schema);
    const bundle: PolicyBundle = {
      version: engine.version,
      policies: request.policies,
      schema,
      publishedAt: this.now().toISOString(),
      publishedBy: request.publishedBy,
      description: request.description,
    };
    // Bundle first, pointer second: the fleet never sees a pointer to a bundle that is not there.
    await this.options.store.putBundle(bundle);
    const pointer = await this.options.store.activate(engine.version, this.now());
    this.useEngine(engine);
    return { ok: true, action: 'publish', version: engine.version, key: pointer.key, warnings: result.warnings };
  }

  private async activate(version: string): Promise<PolicyResponse> {
    const bundle = await this.options.store.getBundle(version);
    if (!bundle) return { ok: false, action: 'activate', errors: [`no published policy version ${version}`] };
    let engine: PolicyEngine;
    try {
      // The schema may have moved on since the bundle was published; refuse what no longer compiles.
      engine = compilePolicySet(bundle.policies, bundle.schema);
    } catch (err) {
      return { ok: false, action: 'activate', errors: err instanceof PolicyError ? err.errors : [String(err)] };
    }
    const pointer = await this.options.store.activate(bundle.version, this.now());
    this.useEngine(engine);
    return { ok: true, action: 'activate', version: bundle.version, key: pointer.key, warnings: [...engine.warnings] };
  }

  private async authorizeConnect(
    who: z.infer<typeof principal>,
    what: z.infer<typeof target>,
  ): Promise<Decision> {
    const engine = await this.liveEngine();
    if (!engine) {
      return { effect: 'deny', policyIds: [], policyVersion: 'none', reason: 'no policy set has been published' };
    }
    return engine.authorizeConnect(who, what);
  }

  private async liveEngine(): Promise<PolicyEngine | undefined> {
    const nowMs = this.now().getTime();
    if (this.engine && nowMs - this.pointerReadAt < this.pointerTtlMs) return this.engine;
    const pointer = await this.options.store.current();
    this.pointerReadAt = nowMs;
    if (!pointer) return (this.engine = undefined);
    if (this.engine?.version === pointer.version) return this.engine;
    const bundle = await this.options.store.getBundle(pointer.version);
    if (!bundle) throw new Error(`policy pointer names version ${pointer.version}, whose bundle is missing`);
    this.engine = compilePolicySet(bundle.policies, bundle.schema);
    return this.engine;
  }

  private useEngine(engine: PolicyEngine): void {
    this.engine = engine;
    this.pointerReadAt = this.now().getTime();
  }
}
