import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { configSchema, type AirlockConfig } from './schema.js';

export class ConfigError extends Error {}

/**
 * `${env:NAME}` inside any string value is replaced by that environment variable, so a deployment
 * can inject resource names (tables, buckets) without templating the file. A missing variable is an
 * error naming the key; values are never echoed.
 */
export function expandEnv(raw: unknown, path: string[] = [], env: NodeJS.ProcessEnv = process.env): unknown {
  if (typeof raw === 'string') {
    return raw.replace(/\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
      const value = env[name];
      if (value === undefined) throw new ConfigError(`invalid configuration:\n  ${path.join('.') || '(root)'}: environment variable ${name} is not set`);
      return value;
    });
  }
  if (Array.isArray(raw)) return raw.map((v, i) => expandEnv(v, [...path, String(i)], env));
  if (raw && typeof raw === 'object') return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, expandEnv(v, [...path, k], env)]));
  return raw;
}

/** Parses and validates a config document; every problem is reported with the path of its key. */
export function parseConfig(raw: unknown, baseDir = process.cwd()): AirlockConfig {
  const result = configSchema.safeParse(expandEnv(raw));
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  return resolvePaths(result.data, baseDir);
}

export function loadConfigFile(path: string): AirlockConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read configuration file ${path}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text); // YAML is a superset of JSON: one parser for both
  } catch (err) {
    throw new ConfigError(`configuration file ${path} is not valid YAML/JSON: ${(err as Error).message}`);
  }
  return parseConfig(raw, dirname(resolve(path)));
}

/** Relative file paths in the config are relative to the config file, as users expect. */
function resolvePaths(cfg: AirlockConfig, baseDir: string): AirlockConfig {
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  const pg = cfg.listeners.postgres;
  const ssh = cfg.listeners.ssh;
  const web = cfg.listeners.console;
  return {
    ...cfg,
    dataDir: abs(cfg.dataDir),
    policy: { ...cfg.policy, file: abs(cfg.policy.file), schemaFile: cfg.policy.schemaFile && abs(cfg.policy.schemaFile) },
    listeners: {
      ...cfg.listeners,
      postgres: pg && { ...pg, tls: pg.tls && { certFile: abs(pg.tls.certFile), keyFile: abs(pg.tls.keyFile) } },
      ssh: ssh && { ...ssh, hostKeyFiles: ssh.hostKeyFiles.map(abs) },
      http: cfg.listeners.http && {
        ...cfg.listeners.http,
        tls: cfg.listeners.http.tls && {
          certFile: abs(cfg.listeners.http.tls.certFile),
          keyFile: abs(cfg.listeners.http.tls.keyFile),
          sni: cfg.listeners.http.tls.sni.map((c) => ({ ...c, certFile: abs(c.certFile), keyFile: abs(c.keyFile) })),
        },
      },
      kubernetes: cfg.listeners.kubernetes && {
        ...cfg.listeners.kubernetes,
        tls: cfg.listeners.kubernetes.tls && {
          certFile: abs(cfg.listeners.kubernetes.tls.certFile),
          keyFile: abs(cfg.listeners.kubernetes.tls.keyFile),
          sni: cfg.listeners.kubernetes.tls.sni.map((c) => ({ ...c, certFile: abs(c.certFile), keyFile: abs(c.keyFile) })),
        },
      },
      console: web && (web.tls ? { ...web, tls: { certFile: abs(web.tls.certFile), keyFile: abs(web.tls.keyFile) } } : web),
      // --- mcp (issue 32) ---
      mcp: cfg.listeners.mcp && { ...cfg.listeners.mcp, tls: cfg.listeners.mcp.tls && { certFile: abs(cfg.listeners.mcp.tls.certFile), keyFile: abs(cfg.listeners.mcp.tls.keyFile) } },
      // --- end mcp ---
    },
    targets: cfg.targets.map((t) => {
      // --- http (issue 30) ---
      if (t.kind === 'http') {
        const absRef = (r: string) => (r.startsWith('file:') ? `file:${abs(r.slice(5))}` : r);
        const tlsFiles = t.tls && { ...t.tls, caFile: t.tls.caFile && abs(t.tls.caFile), clientCertFile: t.tls.clientCertFile && abs(t.tls.clientCertFile), clientKeyFile: t.tls.clientKeyFile && abs(t.tls.clientKeyFile) };
        return { ...t, credential: 'secret' in t.credential ? { ...t.credential, secret: absRef(t.credential.secret) } : t.credential, tls: tlsFiles, openapi: t.openapi && { ...t.openapi, file: abs(t.openapi.file) } };
      }
      // --- end http ---
      // --- kubernetes (issue 31) ---
      if (t.kind === 'kubernetes') {
        const absRef = (r: string) => (r.startsWith('file:') ? `file:${abs(r.slice(5))}` : r);
        const c = t.credential;
        const credential = c.type === 'token' ? { ...c, secret: absRef(c.secret) } : c.type === 'clientCertificate' ? { ...c, certificate: absRef(c.certificate), key: absRef(c.key) } : c;
        return { ...t, credential, caFile: t.caFile && abs(t.caFile) };
      }
      // --- end kubernetes ---
      const credential = t.credential.startsWith('file:') ? `file:${abs(t.credential.slice(5))}` : t.credential;
      return t.kind === 'postgres' ? { ...t, credential, tls: { ...t.tls, caFile: t.tls.caFile && abs(t.tls.caFile) } } : { ...t, credential };
    }),
  };
}
