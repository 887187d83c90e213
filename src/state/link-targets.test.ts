import { describe, expect, it } from 'vitest';
import { PLACEHOLDER_ORIGIN, isOutside, resolveAddress } from './link-targets';

const O = 'http://127.0.0.1:4173';

describe('where a link may point', () => {
  it('judges the address the browser will fetch, not its spelling', () => {
    expect(resolveAddress('/models/a/', O)).toEqual({ href: `${O}/models/a/`, host: '127.0.0.1:4173', place: 'this-site' });
    expect(resolveAddress('../models/a/', O)?.place).toBe('this-site');
    expect(resolveAddress(`${O}/x`, O)?.place).toBe('this-site');
    expect(resolveAddress('https://huggingface.co/a/b/resolve/main/', O)?.place).toBe('hub');
    expect(resolveAddress('HTTPS://HuggingFace.CO/a', O)?.place).toBe('hub');
    expect(resolveAddress('https://huggingface.co.evil.example/a', O)).toMatchObject({ place: 'outside', host: 'huggingface.co.evil.example' });
    expect(resolveAddress('http://huggingface.co/a', O)?.place).toBe('outside');
    expect(resolveAddress('https://huggingface.co:8443/a', O)?.place).toBe('outside');
    expect(resolveAddress('http://localhost:4173/a', O)).toMatchObject({ place: 'outside', host: 'localhost:4173' });
    expect(resolveAddress('https://evil.example/a', O)).toMatchObject({ place: 'outside', host: 'evil.example', href: 'https://evil.example/a' });
  });

  it('refuses spellings that hide a host from a text check', () => {
    for (const t of ['//evil.example/m/', '/\\evil.example/m/', '\\\\evil.example/m/', '/\t/evil.example/m/', '/\n/evil.example', ' /x', 'https:evil.example/m/', 'http:/evil.example', 'https://user:pw@evil.example/', 'https://evil.example@huggingface.co/', 'javascript:alert(1)', 'data:text/html,x', 'blob:https://x/y', 'file:///etc/passwd', 'ws://evil.example/', 'evil.example/m/', '', 'x'.repeat(2001)]) {
      expect(resolveAddress(t, O), JSON.stringify(t)).toBeNull();
      expect(isOutside(t, O)).toBe(true);
    }
  });

  it('a relative address without a page resolves to the placeholder origin, never to a real host', () => {
    expect(resolveAddress('/models/a/')).toMatchObject({ place: 'this-site', href: `${PLACEHOLDER_ORIGIN}/models/a/` });
    expect(isOutside('/models/a/')).toBe(false);
  });
});
