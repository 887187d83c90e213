import { chromium, expect, test } from '@playwright/test';
import { collectErrors, readProbe, screenshot } from './page';

// A teacher serving the app over plain http on the LAN (`npm start -- --host`): students open it
// by the machine's name, which is not a secure context, so the browser hides WebGPU (and ignores
// cross-origin isolation) whatever it supports. The badge must say so, not blame the browser, and
// the page must still work on WASM. This browser runs with WebGPU on (the same flags as the suite)
// and resolves the made-up host name to this machine, so only the origin differs.
const HOST = 'classroom.test';

test('a plain-http LAN page says WebGPU needs https or localhost, and explains the demo on WASM', async ({ baseURL }, testInfo) => {
  const launch = testInfo.project.use.launchOptions ?? {};
  // HttpsUpgrades would first try https:// for a non-local name; the class's server speaks http.
  const browser = await chromium.launch({ ...launch, args: [...(launch.args ?? []), `--host-resolver-rules=MAP ${HOST} 127.0.0.1`, '--disable-features=HttpsUpgrades'] });
  try {
    const page = await browser.newPage();
    const errors = collectErrors(page);
    const url = new URL(baseURL!);
    url.hostname = HOST;
    await page.goto(url.href);
    expect(await page.evaluate(() => [self.isSecureContext, self.crossOriginIsolated])).toEqual([false, false]);
    const probe = await readProbe(page);
    expect(probe.webgpu).toBe(false);
    const badge = page.getByTestId('backend-badge');
    await expect(badge).toHaveAttribute('data-state', 'wasm');
    await expect(badge).toContainText(`not a secure context (http://${HOST}:${url.port})`);
    await expect(badge).toContainText('need https or localhost');
    await expect(badge).not.toContainText('unavailable in this browser');
    // The first visit still explains the bundled demo, on WASM.
    await expect(page.getByTestId('result')).toHaveAttribute('data-explanation', /"backend":"wasm"/, { timeout: 150_000 });
    await expect(page.getByTestId('error')).toBeEmpty();
    await screenshot(page, testInfo, 'lan-http.png');
    // The browser's own word for the same cause is the one console error allowed.
    expect(errors.filter((e) => !/Cross-Origin-Opener-Policy header has been ignored, because the URL's origin was untrustworthy/.test(e))).toEqual([]);
  } finally {
    await browser.close();
  }
});
