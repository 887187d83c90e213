import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'vite';
import { describe, expect, it } from 'vitest';
import { CSP_DIRECTIVES, HUB_CONNECT_SOURCES, connectAllows, contentSecurityPolicy } from './csp';

describe('content security policy', () => {
  it('no inline script, no eval, wasm allowed; nothing but this site and the hub to connect to', () => {
    const p = contentSecurityPolicy();
    expect(p).toContain("script-src 'self' 'wasm-unsafe-eval';");
    expect(p).not.toMatch(/script-src[^;]*('unsafe-inline'|'unsafe-eval'|\*|https?:(?!\/\/))/);
    expect(CSP_DIRECTIVES['connect-src']).toEqual(["'self'", ...HUB_CONNECT_SOURCES]);
    expect(p).toContain("object-src 'none'");
    expect(p).toContain("base-uri 'none'");
  });

  it('admits every host the hub is known to redirect downloads to, and no look-alike', () => {
    for (const host of ['huggingface.co', 'cdn-lfs.huggingface.co', 'cdn-lfs-us-1.huggingface.co', 'cdn-lfs-eu-1.huggingface.co', 'cdn-lfs.hf.co', 'cdn-lfs-us-1.hf.co', 'cdn-lfs-eu-1.hf.co', 'cas-bridge.xethub.hf.co', 'cas-bridge.xethub-eu.hf.co', 'transfer.xethub.hf.co', 'us.aws.cdn.hf.co', 'us.gcp.cdn.hf.co']) {
      expect(connectAllows(`https://${host}/x`), host).toBe(true);
    }
    for (const url of ['http://huggingface.co/x', 'https://huggingface.co.evil.example/x', 'https://evilhf.co/x', 'https://hf.co.evil.example/x', 'https://evil.example/x']) expect(connectAllows(url), url).toBe(false);
  });

  it('the build users get has the policy and neither test hooks nor test pages; the e2e build has both', { timeout: 120_000 }, async () => {
    const out = mkdtempSync(join(tmpdir(), 'atman-build-'));
    try {
      for (const mode of ['production', 'e2e']) {
        const dir = join(out, mode);
        await build({ mode, logLevel: 'silent', publicDir: false, build: { outDir: dir, emptyOutDir: true } });
        const html = readFileSync(join(dir, 'index.html'), 'utf8');
        expect(html.indexOf('http-equiv="Content-Security-Policy"')).toBeGreaterThan(-1);
        expect(html.indexOf('Content-Security-Policy')).toBeLessThan(html.indexOf('<script'));
        expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
        const js = readdirSync(join(dir, 'assets'))
          .filter((f) => f.startsWith('main-') && f.endsWith('.js'))
          .map((f) => readFileSync(join(dir, 'assets', f), 'utf8'))
          .join('\n');
        const hooks = js.includes('__atmanTest');
        const harness = readdirSync(dir).includes('e2e');
        expect({ mode, hooks, harness }).toEqual({ mode, hooks: mode === 'e2e', harness: mode === 'e2e' });
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
