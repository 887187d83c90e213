// docs/method.md as a page of the app (method.html, beside index.html), so the settings can link
// to the part of the method each one changes: emitted into the build, served by the dev server.
// The document uses a small part of Markdown (headings, paragraphs, lists, `code`, **bold**,
// *emphasis*, links); this renders exactly that, escaping everything else as text.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Plugin } from 'vite';

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** GitHub's heading ids: lower case, punctuation dropped, spaces as hyphens. */
export function headingId(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s-]/gu, '')
    .trim()
    .replace(/\s/g, '-');
}

/** Inline Markdown of one block, on text that is escaped first (nothing in the source becomes markup). */
function inline(text: string): string {
  const codes: string[] = [];
  let s = esc(text).replace(/`([^`]+)`/g, (_m, c: string) => `\u0000${codes.push(c) - 1}\u0000`);
  s = s.replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>').replace(/\*([^*\s][^*]*)\*/g, '<em>$1</em>');
  // Other documents are not part of the app: their name stays, as text.
  s = s.replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, (_m, label: string, href: string) =>
    /^https:\/\//.test(href) ? `<a href="${href}">${label}</a>` : `${label} (docs/${href.replace(/^\.\//, '')})`,
  );
  return s.replace(/\u0000(\d+)\u0000/g, (_m, i: string) => `<code>${codes[Number(i)]}</code>`);
}

export function renderMethodPage(md: string): string {
  const out: string[] = [];
  let para: string[] = [];
  let items: string[] | null = null;
  const flush = (): void => {
    if (para.length) out.push(`<p>${inline(para.join(' '))}</p>`);
    para = [];
    if (items) out.push(`<ul>${items.map((i) => `<li>${inline(i)}</li>`).join('')}</ul>`);
    items = null;
  };
  let title = 'The method';
  for (const line of md.split(/\r?\n/)) {
    const h = /^(#{1,3})\s+(.*)$/.exec(line);
    if (h) {
      flush();
      const level = h[1]!.length;
      if (level === 1) title = h[2]!;
      out.push(`<h${level} id="${headingId(h[2]!)}">${inline(h[2]!)}</h${level}>`);
    } else if (/^\s*$/.test(line)) flush();
    else if (/^- /.test(line)) {
      if (para.length) flush();
      (items ??= []).push(line.slice(2));
    } else if (items && /^\s+\S/.test(line)) items[items.length - 1] += ` ${line.trim()}`;
    else {
      if (items) flush();
      para.push(line.trim());
    }
  }
  flush();
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>${esc(title)} · AtMan playground</title>
<style>
body { font: 17px/1.55 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; color: #111; max-width: 46em; margin: 0 auto; padding: 16px 20px 48px; }
code { font-family: ui-monospace, Menlo, monospace; font-size: 0.92em; background: #f2f2f2; padding: 0 3px; border-radius: 3px; overflow-wrap: anywhere; }
h2 { margin-top: 1.6em; border-bottom: 1px solid #ccc; }
h2:target { background: #fff4e0; }
a { color: #1f5fbf; }
</style>
</head>
<body>
<p><a href="./">← back to the playground</a></p>
${out.join('\n')}
</body>
</html>
`;
}

export function methodPage(docPath = 'docs/method.md'): Plugin {
  const page = (): string => renderMethodPage(readFileSync(resolve(docPath), 'utf8'));
  return {
    name: 'atman-method-page',
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        if ((req.url ?? '').split(/[?#]/)[0] !== '/method.html') return next();
        res.setHeader('Content-Type', 'text/html; charset=utf-8');
        res.end(page());
      });
    },
    generateBundle() {
      this.emitFile({ type: 'asset', fileName: 'method.html', source: page() });
    },
  };
}
