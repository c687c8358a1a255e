// A real gateway with its console and reviewers (group `reviewers`), on a real PostgreSQL, and a
// headless Chromium to drive the console: the setup of the end-to-end console tests.
import type { BrowserContext } from 'playwright-core';
import { launchHeadlessChromium } from './browser.js';
import { startPostgres, type RunningPostgres } from './pg-server.js';
import { startTestGateway, type TestGateway } from './gateway.js';

export interface ConsoleGateway {
  server: RunningPostgres;
  gw: TestGateway;
  browser: BrowserContext;
  /** Closes the browser, the gateway and the server. */
  stop(): Promise<void>;
}

export async function startConsoleGateway(opts: { policy?: string } = {}): Promise<ConsoleGateway> {
  // Chromium starts while PostgreSQL and the gateway do: neither waits for the other.
  const chromium = launchHeadlessChromium();
  const stack = (async () => {
    const server = await startPostgres();
    try {
      const gw = await startTestGateway(server, {
        ...(opts.policy ? { policy: opts.policy } : {}),
        config: (raw) => {
          (raw.listeners as Record<string, unknown>).console = { host: '127.0.0.1', port: 0 };
          raw.approvals = { reviewerGroups: ['reviewers'], timeoutSeconds: 120 };
        },
      });
      return { server, gw };
    } catch (err) {
      await server.stop();
      throw err;
    }
  })();
  const [browser, started] = await Promise.allSettled([chromium, stack]);
  if (browser.status === 'rejected' || started.status === 'rejected') {
    if (browser.status === 'fulfilled') await browser.value.close();
    if (started.status === 'fulfilled') {
      await started.value.gw.stop();
      await started.value.server.stop();
    }
    throw browser.status === 'rejected' ? browser.reason : (started as PromiseRejectedResult).reason;
  }
  const { server, gw } = started.value;
  return {
    server,
    gw,
    browser: browser.value.context,
    stop: async () => {
      await browser.value.close();
      await gw.stop();
      await server.stop();
    },
  };
}
