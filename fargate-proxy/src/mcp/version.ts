// The version the MCP server announces: the package's.
import { readFileSync } from 'node:fs';

export const airlockVersion = (): string => {
  try {
    return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
};
