import { expect, test, type Page } from '@playwright/test';
import { collectForeignRequests, explainOnPage, openFresh, waitIdle } from './page';

// The built app under its own Content-Security-Policy (a <meta> tag written by
// vite-plugins/csp.ts into the build these tests are served from). Every policy violation the
// page reports is collected: the securitypolicyviolation events (recorded from before the app's
// first script) and the browser's console lines about the policy.

interface Violations {
  events: () => Promise<string[]>;
  console: string[];
  clear: () => Promise<void>;
}

async function watchViolations(page: Page): Promise<Violations> {
  await page.addInitScript(() => {
    const w = window as unknown as { __csp: string[] };
    w.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => w.__csp.push(`${e.effectiveDirective} ${e.blockedURI}`));
  });
  const lines: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) lines.push(m.text());
  });
  return {
    events: () => page.evaluate(() => (window as unknown as { __csp: string[] }).__csp),
    console: lines,
    clear: async () => {
      lines.length = 0;
      await page.evaluate(() => ((window as unknown as { __csp: string[] }).__csp.length = 0));
    },
  };
}

// The same server under another name: another origin as far as the browser is concerned.
const otherOrigin = (baseURL: string): string => baseURL.replace('127.0.0.1', 'localhost').replace(/\/$/, '');

test('the built app explains with the demo model under its policy, and the policy is enforced', async ({ page, baseURL }) => {
  const v = await watchViolations(page);
  await openFresh(page);
  const policy = await page.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute('content');
  expect(policy).toContain("script-src 'self' 'wasm-unsafe-eval'");
  expect(policy).toMatch(/connect-src 'self' https:\/\/huggingface\.co /);
  expect(policy).not.toMatch(/script-src[^;]*'unsafe-inline'/);
  const x = await explainOnPage(page);
  expect(x.units.length).toBeGreaterThan(0);
  expect(x.model.id).toContain('atman-demo-facts');
  console.log(`explained under the CSP on ${x.model.backend}: ${x.units.length} units, ${x.seconds.toFixed(2)} s`);
  expect(await v.events()).toEqual([]);
  expect(v.console).toEqual([]);

  // The policy is live: an inline script and a connection to another origin are refused and reported.
  const ran = await page.evaluate(() => {
    const s = document.createElement('script');
    s.textContent = 'window.__inlineRan = true';
    document.body.append(s);
    return (window as unknown as { __inlineRan?: boolean }).__inlineRan === true;
  });
  expect(ran).toBe(false);
  const fetched = await page.evaluate((u) => fetch(u).then(() => 'fetched', () => 'refused'), `${otherOrigin(baseURL!)}/models/atman-demo-facts/config.json`);
  expect(fetched).toBe('refused');
  await expect.poll(() => v.events()).toEqual(expect.arrayContaining([expect.stringMatching(/^script-src-elem inline/), expect.stringMatching(/^connect-src http:\/\/localhost/)]));
});

test('a link to a model and a picture on another host asks first, names the host, then loads both without a policy violation', async ({ page, baseURL }) => {
  const v = await watchViolations(page);
  const other = otherOrigin(baseURL!);
  // A hostile spelling first: it must neither load nor be fetched.
  const foreign = collectForeignRequests(page, baseURL!);
  await openFresh(page);
  await page.goto(`/?test#v=1&model=url:/%5Cevil.example/m/&imgurl=/%5Cevil.example/a.png&prompt=p&target=t`);
  await waitIdle(page);
  const refused = await page.getByTestId('download-consent').count();
  if (refused > 0) await expect(page.getByTestId('download-consent')).toHaveAttribute('data-host', 'evil.example');
  expect(foreign.filter((u) => u.includes('evil.example'))).toEqual([]);

  // A model on another host: the question names it; nothing is downloaded before the click.
  // The shapes demo (reads a picture) and one of its pictures, both from the other origin.
  const ex = { prompt: '<image>What colour is the triangle? Answer:', target: ' yellow' };
  await page.goto(`/?test#v=1&model=url:${other}/models/atman-demo-shapes/&prompt=${encodeURIComponent(ex.prompt)}&target=${encodeURIComponent(ex.target)}&imgurl=${other}/models/atman-demo-shapes/examples/shapes-1-64.png`);
  // Across a reload the download is still unconfirmed.
  await page.reload();
  await waitIdle(page);
  const consent = page.getByTestId('download-consent');
  await expect(consent).toBeVisible();
  await expect(consent).toHaveAttribute('data-host', new URL(other).host);
  await expect(page.getByTestId('download-host')).toHaveText(new URL(other).host);
  await expect(page.getByTestId('image-pending-host')).toHaveText(new URL(other).host);
  expect(foreign.filter((u) => u.startsWith(other))).toEqual([]);

  // After yes: the model downloads (engine worker) and explains; the picture downloads (download worker).
  await consent.getByRole('button', { name: 'Download and load' }).click();
  await waitIdle(page);
  await page.getByTestId('image-pending-load').click();
  await expect(page.getByTestId('image-pending')).toHaveCount(0);
  expect(foreign.filter((u) => u.startsWith(`${other}/models/atman-demo-shapes/`)).length).toBeGreaterThan(2);
  const x = await explainOnPage(page);
  expect(x.model.id).toContain(other);
  expect(x.image?.width).toBe(64);
  console.log(`explained ${x.model.id} with its picture, both from ${new URL(other).host}: ${x.units.length} units`);
  expect(await v.events()).toEqual([]);
  expect(v.console).toEqual([]);
});
