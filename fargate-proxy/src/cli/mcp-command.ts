// `airlock mcp`: the MCP server over stdio, for an agent running on the machine of a gateway. It
// reaches the running gateway's listeners (found through `<dataDir>/gateway.json`) with the
// agent's token; stdout carries MCP messages only, anything else goes to stderr.
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { AirlockConfig } from '../config/schema.js';
import { decodeJwt } from 'jose';
import { gatewayEndpoints, tlsPin } from '../mcp/endpoints.js';
import { consoleTaskService } from '../mcp/console-task-service.js';
import { createAirlockMcpServer } from '../mcp/server.js';
import { clientCredentialsToken, fixedToken, unusableTokenReason } from '../mcp/token-source.js';
import { airlockVersion } from '../mcp/version.js';
import { readLiveGatewayRecord, gatewayRecordPath } from './gateway-record.js';


export async function mcpStdioCommand(cfg: AirlockConfig, configFile: string, o: { client?: string }, fail: (message: string) => never): Promise<void> {
  const running = readLiveGatewayRecord(cfg.dataDir);
  if (!running) fail(`no gateway is running with ${configFile} (no live ${gatewayRecordPath(cfg.dataDir)}): start it with \`airlock serve -c ${configFile}\``);
  let token: () => Promise<string>;
  if (process.env.AIRLOCK_TOKEN) {
    // Refused before the MCP handshake, so a client's health check (`claude mcp list`) shows the
    // failure instead of a server that connects and then fails every call with token_invalid.
    const unusable = unusableTokenReason(process.env.AIRLOCK_TOKEN);
    if (unusable) fail(`AIRLOCK_TOKEN cannot be used: ${unusable}`);
    token = fixedToken(process.env.AIRLOCK_TOKEN);
  } else if (o.client) {
    const local = cfg.identity.localIssuer;
    const client = local?.clients.find((c) => c.clientId === o.client);
    if (!client || !running.tokenEndpoint) fail(`--client ${o.client}: no such client at the gateway's local issuer`);
    const audience = Array.isArray(cfg.identity.audience) ? cfg.identity.audience[0]! : cfg.identity.audience;
    token = clientCredentialsToken({ tokenEndpoint: running.tokenEndpoint, clientId: client.clientId, clientSecret: client.clientSecret, audience });
  } else {
    fail('no token: set AIRLOCK_TOKEN to the agent\'s access token, or pass --client ID for a local issuer client');
  }
  // request_access / task_status go to the console's task API, which verifies the token itself.
  const consoleCfg = cfg.listeners.console;
  const tasks = running.consoleUrl && consoleCfg ? consoleTaskService({ url: running.consoleUrl, token, tls: consoleCfg.tls && tlsPin(consoleCfg.tls.certFile) }) : undefined;
  const server = createAirlockMcpServer({
    endpoints: gatewayEndpoints(cfg, running),
    token,
    tasks,
    // Not verified here (the console and the listeners verify the token): the port wants a Principal.
    principal: async () => {
      const claims = decodeJwt(await token());
      return { id: String(claims.sub ?? ''), groups: [], issuer: String(claims.iss ?? '') };
    },
    maxApprovalWaitMs: cfg.approvals.timeoutSeconds * 1000,
    version: airlockVersion(),
  });
  const transport = new StdioServerTransport();
  transport.onclose = () => process.exit(0);
  process.stdin.once('end', () => void server.close().then(() => process.exit(0)));
  await server.connect(transport);
}
