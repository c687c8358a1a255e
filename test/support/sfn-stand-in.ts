// A stand-in for the Step Functions API (JSON 1.0 over HTTP), enough for the approval workflow: the
// gateway's StartExecution/StopExecution and the Lambdas' SendTaskSuccess/SendTaskFailure. Each
// execution gets a task token and is handed to `onStart` (the test runs the notifier's real code
// there, as the workflow's wait-for-task-token state would). Point clients at it with
// AWS_ENDPOINT_URL_SFN or an SFNClient `endpoint`.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SfnCall {
  action: string;
  input: Record<string, unknown>;
}

export interface SfnStandIn {
  endpoint: string;
  calls: SfnCall[];
  stop(): Promise<void>;
}

export async function startSfnStandIn(onStart: (execution: { input: Record<string, unknown>; taskToken: string }) => Promise<void>): Promise<SfnStandIn> {
  const calls: SfnCall[] = [];
  const server = createServer(async (req, res) => {
    let raw = '';
    for await (const c of req as AsyncIterable<Buffer>) raw += c.toString('utf8');
    const action = String(req.headers['x-amz-target'] ?? '').replace(/^AWSStepFunctions\./, '');
    const input = JSON.parse(raw || '{}') as Record<string, unknown>;
    calls.push({ action, input });
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' });
      res.end(JSON.stringify(body));
    };
    if (action === 'StartExecution') {
      const executionArn = `${String(input.stateMachineArn).replace(':stateMachine:', ':execution:')}:${String(input.name ?? randomUUID())}`;
      reply(200, { executionArn, startDate: Date.now() / 1000 });
      // After answering, as the service runs the first state asynchronously.
      setImmediate(() => void onStart({ input: JSON.parse(String(input.input ?? '{}')) as Record<string, unknown>, taskToken: `task-token-${randomUUID()}` }).catch(() => undefined));
      return;
    }
    if (action === 'StopExecution') return reply(200, { stopDate: Date.now() / 1000 });
    if (action === 'SendTaskSuccess' || action === 'SendTaskFailure') return reply(200, {});
    reply(400, { __type: 'UnknownOperationException', message: action });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
