// The bench measures the gateway as it is deployed: fargate-proxy/Dockerfile compiles it with tsc
// and runs `node dist/fargate-proxy/src/cli/main.js` under NODE_ENV=production. Running the
// TypeScript through tsx instead costs the hot path measurably (esbuild's keepNames wraps every
// closure created per row or per message in a `__name` call), so peers start from this build.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const ROOT = new URL('..', import.meta.url).pathname;
let built = false;

/** Compiles core/, fargate-proxy/src/ and the relay into dist/ once per bench process (incremental). */
export function buildGateway(log: (msg: string) => void = () => undefined): void {
  if (built) return;
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const t0 = performance.now();
  execFileSync(process.execPath, [tsc, '-p', join(ROOT, 'bench/tsconfig.gateway.json')], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  log(`compiled the gateway into dist/ in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  built = true;
}

/** `node` arguments that run a repository script (`fargate-proxy/src/cli/main.ts`) from the build. */
export function compiledScript(script: string): string {
  buildGateway();
  const js = join(ROOT, 'dist', script.replace(/\.ts$/, '.js'));
  if (!existsSync(js)) throw new Error(`${script} is not part of the bench build (bench/tsconfig.gateway.json)`);
  return js;
}
