// Turns policy text into something the engine can evaluate: parsed, validated against the schema,
// and with each policy's Airlock annotations (@id, @approval, @reason) read once, up front.
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { describeCedarError } from './errors.js';

export interface PolicyInfo {
  id: string;
  effect: 'permit' | 'forbid';
  /** `@approval("required")`: a match asks a human instead of allowing. */
  needsApproval: boolean;
  /** `@reason("...")`: the author's explanation, appended to the decision's reason. */
  reason?: string;
}

export interface AnalysedPolicySet {
  /** Policy text keyed by `@id`, so Cedar itself reports the authors' names. */
  policies: Record<string, string>;
  info: Map<string, PolicyInfo>;
  warnings: string[];
}

export type Analysis = ({ ok: true } & AnalysedPolicySet) | { ok: false; errors: string[]; warnings: string[] };

const KNOWN_ANNOTATIONS = new Set(['id', 'approval', 'reason']);

export function analysePolicySet(policyText: string, schemaText: string): Analysis {
  const errors: string[] = [];
  const warnings: string[] = [];
  const policySource = { label: 'policy', text: policyText };
  const schemaSource = { label: 'schema', text: schemaText };

  const schemaParse = cedar.checkParseSchema(schemaText);
  if (schemaParse.type === 'failure') {
    return { ok: false, errors: schemaParse.errors.map((e) => describeCedarError(e, schemaSource)), warnings };
  }

  const parts = cedar.policySetTextToParts(policyText);
  if (parts.type === 'failure') {
    return { ok: false, errors: parts.errors.map((e) => describeCedarError(e, policySource)), warnings };
  }
  if (parts.policy_templates.length > 0) {
    errors.push('policy: templates (policies with ?principal or ?resource slots) are not supported');
  }

  // Cedar names policies policy0, policy1, … in source order but returns the parts sorted by that
  // name (policy10 before policy2); undo the sort to know which text is policyN.
  const positional = parts.policies.map((_, n) => `policy${n}`).sort();
  const textByPosition: string[] = [];
  positional.forEach((name, i) => {
    textByPosition[Number(name.slice('policy'.length))] = parts.policies[i] as string;
  });

  const policies: Record<string, string> = {};
  const info = new Map<string, PolicyInfo>();
  const idByPosition: string[] = [];
  textByPosition.forEach((text, n) => {
    const json = cedar.policyToJson(text);
    if (json.type === 'failure') {
      errors.push(...json.errors.map((e) => describeCedarError(e, { label: `policy #${n + 1}`, text })));
      return;
    }
    const annotations = json.json.annotations ?? {};
    const id = annotations['id'];
    const firstLine = text.split('\n').find((l) => !l.trimStart().startsWith('//'))?.trim() ?? '';
    if (!id) {
      errors.push(`policy #${n + 1} (${firstLine.slice(0, 60)}…) has no @id("..."): every policy needs a name so decisions can cite it`);
      return;
    }
    idByPosition[n] = id;
    if (info.has(id)) {
      errors.push(`policy "${id}": @id is used by more than one policy`);
      return;
    }
    const approval = annotations['approval'];
    if (approval !== undefined && approval !== 'required') {
      errors.push(`policy "${id}": @approval must be "required" (got "${approval}")`);
    }
    if (approval !== undefined && json.json.effect === 'forbid') {
      errors.push(`policy "${id}": @approval on a forbid has no meaning; forbid always denies`);
    }
    for (const name of Object.keys(annotations)) {
      if (!KNOWN_ANNOTATIONS.has(name)) warnings.push(`policy "${id}": unknown annotation @${name} is ignored`);
    }
    policies[id] = text;
    info.set(id, {
      id,
      effect: json.json.effect,
      needsApproval: approval === 'required',
      ...(annotations['reason'] ? { reason: annotations['reason'] } : {}),
    });
  });

  const rename = (message: string) =>
    message.replace(/`policy(\d+)`/g, (whole, n: string) => (idByPosition[Number(n)] ? `\`${idByPosition[Number(n)]}\`` : whole));

  const validation = cedar.validate({ schema: schemaText, policies: { staticPolicies: policyText } });
  if (validation.type === 'failure') {
    errors.push(...validation.errors.map((e) => describeCedarError(e, policySource, rename)));
    warnings.push(...validation.warnings.map((e) => describeCedarError(e, policySource, rename)));
  } else {
    // The validator repeats an error once per action a policy applies to; once is enough to read.
    errors.push(...oncePerSpot(validation.validationErrors).map((e) => describeCedarError(e.error, policySource, rename)));
    warnings.push(
      ...unique([
        ...validation.validationWarnings.map((e) => describeCedarError(e.error, policySource, rename)),
        ...validation.otherWarnings.map((e) => describeCedarError(e, policySource, rename)),
      ]),
    );
  }

  if (errors.length > 0) return { ok: false, errors, warnings };
  return { ok: true, policies, info, warnings };
}

// The validator reports the same mistake once per action the policy may apply to, differing only in
// the action named; the first is enough for the author.
function oncePerSpot(found: cedar.ValidationError[]): cedar.ValidationError[] {
  const seen = new Set<string>();
  return found.filter((e) => {
    const key = `${e.policyId}:${e.error.sourceLocations?.[0]?.start ?? e.error.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function unique(lines: string[]): string[] {
  return [...new Set(lines)];
}
