// `airlock kubeconfig --target NAME`: a kubeconfig whose server is the gateway's Kubernetes listener
// (`https://<host>:<port>/<target>`) and whose user runs `airlock token --exec-credential`, so
// kubectl asks for a fresh token whenever the last one expires. No token is written into the file.
import { decodeJwt } from 'jose';

export interface KubeconfigInput {
  target: string;
  /** The listener's URL, without the target: https://gateway.example.com:6443 */
  server: string;
  /** PEM of the CA that signed the listener's certificate; absent: the system's roots. */
  caPem?: string;
  /** The command kubectl runs for a token, and its arguments. */
  command: string;
  args: string[];
  namespace?: string;
}

export function kubeconfigFor(i: KubeconfigInput): Record<string, unknown> {
  const name = `airlock-${i.target}`;
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster: { server: `${i.server.replace(/\/+$/, '')}/${i.target}`, ...(i.caPem && { 'certificate-authority-data': Buffer.from(i.caPem, 'utf8').toString('base64') }) } }],
    users: [
      {
        name,
        user: {
          exec: {
            apiVersion: 'client.authentication.k8s.io/v1',
            command: i.command,
            args: i.args,
            interactiveMode: 'Never',
            provideClusterInfo: false,
          },
        },
      },
    ],
    contexts: [{ name, context: { cluster: name, user: name, ...(i.namespace && { namespace: i.namespace }) } }],
    'current-context': name,
  };
}

/** What an exec credential plugin prints (client.authentication.k8s.io/v1): the token and when it expires. */
export function execCredential(token: string): Record<string, unknown> {
  let exp: number | undefined;
  try {
    exp = decodeJwt(token).exp;
  } catch {
    exp = undefined;
  }
  return {
    apiVersion: 'client.authentication.k8s.io/v1',
    kind: 'ExecCredential',
    status: { token, ...(exp !== undefined && { expirationTimestamp: new Date(exp * 1000).toISOString().replace(/\.\d+Z$/, 'Z') }) },
  };
}
