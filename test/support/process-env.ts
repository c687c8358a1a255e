// Tests that start gateways in their own process (or spawn ones that inherit its environment) point
// the AWS SDK at local servers through process.env; what they set is put back when they finish.

/** Sets each variable of `env` in process.env; the returned function restores what was there. */
export function useProcessEnv(env: Record<string, string>): () => void {
  const saved = Object.entries(env).map(([name]) => [name, process.env[name]] as const);
  Object.assign(process.env, env);
  return () => {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
}
