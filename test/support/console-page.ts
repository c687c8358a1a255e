// The console in headless Chromium as a person uses it: open a page, paste a token into the sign-in
// form, press the button. What the page shows next is the test's to check.
import type { BrowserContext, Page } from 'playwright-core';

/** The console's main view, shown once the token was accepted. */
export const SIGNED_IN = '#main:not([hidden])';

/** A new tab on `url`, signed in with `token`; it does not wait for the outcome (a refused token is a case too). */
export async function signIn(browser: BrowserContext, url: string, token: string): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(url);
  await page.fill('#token', token);
  await page.click('#sign-in-button');
  return page;
}
