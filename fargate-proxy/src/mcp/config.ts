// Configuration of the MCP listener (streamable HTTP), merged into the gateway's schema as
// `listeners.mcp` in config/schema.ts.
import { z } from 'zod';

export const mcpListenerSchema = z
  .object({
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(8445),
    /** HTTPS. Without it, `allowPlaintext: true` (tokens cross the network in clear: local use only). */
    tls: z.object({ certFile: z.string(), keyFile: z.string() }).strict().optional(),
    allowPlaintext: z.boolean().default(false),
    /** The MCP endpoint's path. */
    path: z.string().regex(/^\/[A-Za-z0-9_./-]*$/).default('/mcp'),
    /**
     * The endpoint's public URL as agents reach it (behind a load balancer, its DNS name); it is the
     * OAuth protected resource named in the metadata. Default: this listener's own address.
     */
    publicUrl: z.string().url().optional(),
    /** Authorization servers named in the metadata. Default: the configured identity issuer. */
    authorizationServers: z.array(z.string().url()).min(1).optional(),
    /** Largest JSON-RPC request body accepted. */
    maxRequestBytes: z.number().int().min(1024).default(16 * 1024 * 1024),
  })
  .strict()
  .refine((l) => l.tls || l.allowPlaintext, 'set tls, or allowPlaintext: true for local use');

export type McpListenerConfig = z.infer<typeof mcpListenerSchema>;
