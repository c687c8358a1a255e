// Masking of what the API server answers, object by object: a Secret's data (decoded from base64,
// masked whole), a ConfigMap's data, env values in pod specs and templates (the variable's name is
// the masking "column"), the `last-applied-configuration` annotation (the whole object again, as
// JSON), Table rows (kubectl get) cell by cell under their column names, list items and watch
// events one at a time; every other string through the detectors. Responses are JSON values, one
// for get/list and one per event for watch, each bounded in size.
import type { ColumnPlan, Masker } from '../../../../core/mask/index.js';

/** What replaces a Secret value (base64-encoded where the field is base64, so clients still decode it). */
export const SECRET_MASK = '[airlock:masked]';
const SECRET_MASK_B64 = Buffer.from(SECRET_MASK, 'utf8').toString('base64');
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

export class KubeObjectMasker {
  private readonly plans = new Map<string, ColumnPlan>();

  /** `resourceKind` is the kind the request is about (from the resource), for list items that carry none. */
  constructor(
    private readonly masker: Masker,
    private readonly resourceKind: string,
  ) {}

  /** Masks one response value (an object, a list, a Table, a watch event) in place and returns it. */
  mask(value: Json): Json {
    if (isObj(value) && typeof value.type === 'string' && 'object' in value && Object.keys(value).every((k) => k === 'type' || k === 'object')) {
      // A watch event: its object is masked as any other response.
      value.object = this.object(value.object, this.resourceKind);
      return value;
    }
    return this.object(value, this.resourceKind);
  }

  private plan(key: string): ColumnPlan {
    let p = this.plans.get(key);
    if (!p) {
      p = this.masker.planColumns([key]);
      if (this.plans.size < 1024) this.plans.set(key, p);
    }
    return p;
  }

  private cell(value: string, key: string): string {
    return this.masker.maskCell(value, this.plan(key), 0) ?? value;
  }

  /** One Kubernetes object (or list, or Table) whose kind may be implied by where it is. */
  private object(value: Json, impliedKind: string): Json {
    if (!isObj(value)) return this.generic(value, '');
    const kind = typeof value.kind === 'string' ? value.kind : impliedKind;
    if (kind === 'Table' && Array.isArray(value.rows)) return this.table(value);
    if (kind.endsWith('List') && Array.isArray(value.items)) {
      const itemKind = kind.slice(0, -4);
      value.items = value.items.map((item) => this.object(item, itemKind));
      if (isObj(value.metadata)) value.metadata = this.generic(value.metadata, 'metadata');
      return value;
    }
    if (isObj(value.metadata)) this.lastApplied(value.metadata, kind);
    if (kind === 'Secret') {
      for (const field of ['data', 'stringData'] as const) {
        const d = value[field];
        if (isObj(d)) for (const k of Object.keys(d)) d[k] = field === 'data' ? SECRET_MASK_B64 : SECRET_MASK;
      }
      for (const [k, v] of Object.entries(value)) if (k !== 'data' && k !== 'stringData') value[k] = this.generic(v, k);
      return value;
    }
    if (kind === 'ConfigMap') {
      if (isObj(value.data)) for (const [k, v] of Object.entries(value.data)) if (typeof v === 'string') value.data[k] = this.cell(v, k);
      if (isObj(value.binaryData)) {
        for (const [k, v] of Object.entries(value.binaryData)) {
          if (typeof v !== 'string') continue;
          const text = Buffer.from(v, 'base64').toString('utf8');
          const masked = this.cell(text, k);
          if (masked !== text) value.binaryData[k] = Buffer.from(masked, 'utf8').toString('base64');
        }
      }
      for (const [k, v] of Object.entries(value)) if (k !== 'data' && k !== 'binaryData') value[k] = this.generic(v, k);
      return value;
    }
    return this.generic(value, '');
  }

  /** The annotation kubectl apply keeps is the whole object as JSON: masked as that object. */
  private lastApplied(metadata: Obj, kind: string): void {
    const ann = metadata.annotations;
    if (!isObj(ann) || typeof ann[LAST_APPLIED] !== 'string') return;
    try {
      ann[LAST_APPLIED] = JSON.stringify(this.object(JSON.parse(ann[LAST_APPLIED]) as Json, kind));
    } catch {
      ann[LAST_APPLIED] = kind === 'Secret' ? SECRET_MASK : this.cell(ann[LAST_APPLIED], LAST_APPLIED);
    }
  }

  /** kubectl get's Table: each cell under its column's name; each row's object as an object. */
  private table(t: Obj): Json {
    const columns = Array.isArray(t.columnDefinitions) ? t.columnDefinitions.map((c) => (isObj(c) && typeof c.name === 'string' ? c.name : '')) : [];
    for (const row of t.rows as Json[]) {
      if (!isObj(row)) continue;
      if (Array.isArray(row.cells)) row.cells = row.cells.map((c, i) => (typeof c === 'string' ? this.cell(c, columns[i] ?? '') : this.generic(c, columns[i] ?? '')));
      if (row.object !== undefined) row.object = this.object(row.object, this.resourceKind);
    }
    if (isObj(t.metadata)) t.metadata = this.generic(t.metadata, 'metadata');
    return t;
  }

  /** Any other JSON: strings through the detectors under their key; `env` entries by variable name. */
  private generic(value: Json, key: string, depth = 0): Json {
    if (depth > 100) return null;
    if (typeof value === 'string') return this.cell(value, key);
    if (typeof value === 'number') {
      const s = String(value);
      const m = this.cell(s, key);
      return m === s ? value : m;
    }
    if (Array.isArray(value)) {
      if (key === 'env') {
        return value.map((e) => {
          if (isObj(e) && typeof e.name === 'string' && typeof e.value === 'string') {
            e.value = this.cell(e.value, e.name);
            for (const [k, v] of Object.entries(e)) if (k !== 'value' && k !== 'name') e[k] = this.generic(v, k, depth + 1);
            return e;
          }
          return this.generic(e, key, depth + 1);
        });
      }
      return value.map((v) => this.generic(v, key, depth + 1));
    }
    if (isObj(value)) {
      for (const [k, v] of Object.entries(value)) value[k] = this.generic(v, k, depth + 1);
      return value;
    }
    return value;
  }
}

/** The kind a resource's objects have, for list items and events that do not say (pods → Pod). */
export function kindOfResource(resource: string, apiGroup: string): string {
  if (apiGroup !== '') return '';
  if (resource === 'secrets') return 'Secret';
  if (resource === 'configmaps') return 'ConfigMap';
  return '';
}

/**
 * Splits a stream of text into top-level JSON values (one for get/list, one per watch event),
 * each at most `maxBytes` long. Strings and escapes are honoured; whitespace between values is dropped.
 */
export class JsonValueSplitter {
  private buf = '';
  private depth = 0;
  private inString = false;
  private escaped = false;
  private scanned = 0;

  constructor(private readonly maxBytes: number) {}

  push(text: string): string[] {
    this.buf += text;
    const out: string[] = [];
    let start = 0;
    for (let i = this.scanned; i < this.buf.length; i++) {
      const c = this.buf.charCodeAt(i);
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === 0x5c) this.escaped = true;
        else if (c === 0x22) this.inString = false;
        continue;
      }
      if (c === 0x22) this.inString = true;
      else if (c === 0x7b || c === 0x5b) this.depth++;
      else if (c === 0x7d || c === 0x5d) {
        this.depth--;
        if (this.depth === 0) {
          out.push(this.buf.slice(start, i + 1).trim());
          start = i + 1;
        } else if (this.depth < 0) throw new Error('unbalanced JSON in the response');
      } else if (this.depth === 0 && !/\s/.test(this.buf[i]!)) throw new Error('a response value that is not a JSON object or array');
    }
    this.buf = this.buf.slice(start);
    this.scanned = this.buf.length;
    if (this.buf.length > this.maxBytes) throw new Error(`a response object larger than ${this.maxBytes} bytes`);
    return out;
  }

  /** Anything left that is not whitespace is a truncated value. */
  end(): void {
    if (this.buf.trim() !== '') throw new Error('the response ended inside a JSON value');
  }
}
