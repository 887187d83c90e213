// @vitest-environment happy-dom
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Explanation } from '../../runtime/schema';
import gpt2 from './__fixtures__/tiny-gpt2-complete.json';
import llama from './__fixtures__/tiny-llama-per-token.json';
import { downloadBlob, exportJson, exportPng, exportSvg, fileStem, heatmapSvg, svgString } from './export-view';
import { createTopUnitsChart } from './top-units-chart';
import { testExplanation } from '../../testing/ui-explanation';

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
  document.body.replaceChildren();
});

describe('exportJson', () => {
  it('round-trips the Explanation as pretty JSON', async () => {
    for (const x of [testExplanation(), llama as unknown as Explanation]) {
      const blob = exportJson(x);
      expect(blob.type).toBe('application/json');
      const text = await blob.text();
      expect(text).toContain('\n  "schemaVersion": 1,');
      expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(x)));
    }
  });
});

describe('exportSvg', () => {
  it('serialises a chart as a standalone SVG file', async () => {
    const host = document.createElement('div');
    document.body.append(host);
    const chart = createTopUnitsChart(host);
    chart.update({ bars: [{ unit: 0, label: '<b>&', score: 1, rank: 1 }], total: 1 });
    const blob = exportSvg(host.querySelector('svg')!);
    expect(blob.type).toBe('image/svg+xml;charset=utf-8');
    const text = await blob.text();
    expect(text.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<svg')).toBe(true);
    expect(text).toContain('xmlns="http://www.w3.org/2000/svg"');
    expect(text).toMatch(/width="640"/);
    expect(text).toContain('font-family=');
    expect(text).toContain('&lt;b&gt;&amp;');
    const doc = new DOMParser().parseFromString(text.replace(/^<\?xml[^>]*>\n/, ''), 'image/svg+xml');
    expect(doc.querySelectorAll('g.atman-bar').length).toBe(1);
    chart.destroy();
  });
});

describe('heatmapSvg', () => {
  it('lays tokens out as text on coloured rects, the target underlined, with a legend', () => {
    const x = testExplanation();
    const svg = heatmapSvg(x, { title: null });
    const texts = [...svg.querySelectorAll('text')].map((t) => t.textContent);
    expect(texts.slice(0, 6)).toEqual(['<s>', 'The', 'cat', 'sat', 'on', 'mat']);
    expect(texts).toContain('+2.08');
    expect(texts.join(' ')).toContain('orange: evidence for the target');
    expect(svg.querySelectorAll('line').length).toBe(2); // "on" and "mat" underlined
    const fills = [...svg.querySelectorAll('rect')].map((r) => r.getAttribute('fill'));
    expect(fills).toContain('rgb(230, 97, 1)'); // "cat", the strongest unit
    expect(Number(svg.getAttribute('width'))).toBe(960);
    expect(Number(svg.getAttribute('height'))).toBeGreaterThan(50);
  });

  it('wraps long prompts onto more lines within the width', () => {
    const x = llama as unknown as Explanation;
    const one = heatmapSvg(x, { width: 2000, legend: false, title: null });
    const narrow = heatmapSvg(x, { width: 200, legend: false, title: null });
    expect(Number(narrow.getAttribute('height'))).toBeGreaterThan(Number(one.getAttribute('height')));
    for (const t of narrow.querySelectorAll('text')) expect(Number(t.getAttribute('x'))).toBeLessThan(200);
  });

  it('keeps token text as text', () => {
    const svg = heatmapSvg(gpt2 as unknown as Explanation);
    const s = svgString(svg);
    expect(s).not.toContain('<img');
    expect(s).toContain('&lt;');
    expect(svg.querySelector('img')).toBeNull();
  });
});

describe('exportPng', () => {
  it('rasterises an SVG at the given scale through an Image and a canvas', async () => {
    const drawn: unknown[] = [];
    class FakeImage {
      onload: (() => void) | null = null;
      onerror: (() => void) | null = null;
      set src(_v: string) {
        setTimeout(() => this.onload?.(), 0);
      }
    }
    vi.stubGlobal('Image', FakeImage);
    (window as unknown as { Image: unknown }).Image = FakeImage;
    const ctx = { fillStyle: '', fillRect: vi.fn(), scale: vi.fn(), drawImage: vi.fn((...a: unknown[]) => drawn.push(a)) };
    let size: [number, number] = [0, 0];
    vi.spyOn(HTMLCanvasElement.prototype, 'getContext').mockImplementation(function (this: HTMLCanvasElement) {
      size = [this.width, this.height];
      return ctx as unknown as CanvasRenderingContext2D;
    } as never);
    vi.spyOn(HTMLCanvasElement.prototype, 'toBlob').mockImplementation((cb: BlobCallback) => cb(new Blob(['png'], { type: 'image/png' })));
    const svg = heatmapSvg(testExplanation(), { width: 400 });
    const blob = await exportPng(svg, 2);
    expect(blob.type).toBe('image/png');
    expect(size).toEqual([800, 2 * Number(svg.getAttribute('height'))]);
    expect(ctx.scale).toHaveBeenCalledWith(2, 2);
    expect(drawn.length).toBe(1);
  });

  it('asks for an SVG when given HTML without one', async () => {
    await expect(exportPng(document.createElement('div'), 2)).rejects.toThrow(/heatmapSvg/);
  });
});

describe('downloadBlob', () => {
  it('clicks a temporary download link', () => {
    const create = vi.spyOn(URL, 'createObjectURL').mockReturnValue('blob:fake');
    const clicks: string[] = [];
    vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(function (this: HTMLAnchorElement) {
      clicks.push(this.download);
    });
    downloadBlob(new Blob(['{}']), 'x.json');
    expect(create).toHaveBeenCalled();
    expect(clicks).toEqual(['x.json']);
    expect(document.querySelector('a')).toBeNull();
    expect(fileStem({ prompt: 'The capital of France is' })).toBe('atman-the-capital-of-france-is');
  });
});
