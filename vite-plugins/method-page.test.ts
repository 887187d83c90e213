// The method page the settings link to: every anchor they use exists, and the document's text
// stays text (escaped), with nothing that could run.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { METHOD_SECTIONS } from '../src/ui/app/method-doc';
import { headingId, renderMethodPage } from './method-page';

describe('method page', () => {
  const html = renderMethodPage(readFileSync('docs/method.md', 'utf8'));

  it('has an id for every section the settings link to', () => {
    const ids = new Set([...html.matchAll(/<h[1-3] id="([^"]+)"/g)].map((m) => m[1]));
    for (const [name, id] of Object.entries(METHOD_SECTIONS)) expect(ids.has(id), `${name}: #${id}`).toBe(true);
  });

  it('renders headings, lists, code and emphasis, and escapes the rest', () => {
    const page = renderMethodPage('# T\n\n## A <b>&amp; "B"\n\n- one `x < y`\n  and **two**\n- *three* [doc](architecture.md)\n\ntext <script>alert(1)</script>\n');
    expect(page).toContain('<h2 id="a-bamp-b">A &lt;b&gt;&amp;amp; &quot;B&quot;</h2>');
    expect(page).toContain('<ul><li>one <code>x &lt; y</code> and <strong>two</strong></li><li><em>three</em> doc (docs/architecture.md)</li></ul>');
    expect(page).toContain('<p>text &lt;script&gt;alert(1)&lt;/script&gt;</p>');
    expect(page).not.toMatch(/<script/);
    expect(page).toMatch(/Content-Security-Policy" content="default-src 'none'/);
  });

  it('spells ids as GitHub does', () => {
    expect(headingId('The manipulation (every attention layer, every head, every query row)')).toBe('the-manipulation-every-attention-layer-every-head-every-query-row');
    expect(headingId('What the speed-ups may and may not change')).toBe('what-the-speed-ups-may-and-may-not-change');
  });
});
