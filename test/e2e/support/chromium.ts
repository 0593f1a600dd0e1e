import { accessSync, constants } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { type Browser, type BrowserContextOptions, chromium, type Page } from 'playwright-core';
import { buildWeb, webBuildIsFresh } from '../../../scripts/build-web.mjs';
import { repoRoot } from '../../support/runtime.js';

/** Debian's Chromium (`.ci/run` installs it); the tests never download a browser. */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * Headless, no sandbox (CI runs as root), and nothing that phones home or fetches components on
 * its own, so the only requests are the page's. Playwright gives every launch a fresh profile.
 */
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A desktop browser window. */
export const DESKTOP: BrowserContextOptions = { viewport: { width: 1280, height: 800 } };

/** A phone: an iPhone 14's viewport, touch, mobile layout. */
export const PHONE: BrowserContextOptions = {
  viewport: { width: 390, height: 844 },
  deviceScaleFactor: 2,
  isMobile: true,
  hasTouch: true,
};

/** Why the browser tests cannot run here, or undefined when they can. */
export function chromiumUnavailableReason(): string | undefined {
  try {
    accessSync(CHROMIUM, constants.X_OK);
    return undefined;
  } catch {
    return `${CHROMIUM} is not installed (apt-get install chromium)`;
  }
}

/** Starts Chromium. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
}

/** Builds the web app when dist/web is missing or older than its sources, as `npm start` would. */
export async function ensureWebBuilt(): Promise<void> {
  if (!webBuildIsFresh()) await buildWeb();
}

/** Where the browser tests keep their screenshots (git-ignored). */
export const ARTIFACTS = path.join(repoRoot, 'test-artifacts');

/** Saves a screenshot of the page as test-artifacts/<folder>/<name>.png. */
export async function screenshot(page: Page, folder: string, name: string): Promise<string> {
  const dir = path.join(ARTIFACTS, folder);
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}
