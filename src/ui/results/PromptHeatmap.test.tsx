// @vitest-environment happy-dom
import { act, cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Explanation } from '../../runtime/schema';
import gpt2 from './__fixtures__/tiny-gpt2-complete.json';
import llama from './__fixtures__/tiny-llama-per-token.json';
import { PromptHeatmap } from './PromptHeatmap';
import { parseColour } from './score-view';
import { testExplanation } from '../../testing/ui-explanation';

afterEach(cleanup);

const rgbOf = (el: HTMLElement): [number, number, number] => parseColour(el.style.backgroundColor);

describe('PromptHeatmap', () => {
  it('renders every unit once with its score, rank and colour sign', () => {
    const x = testExplanation();
    render(<PromptHeatmap explanation={x} />);
    const units = screen.getAllByTestId('unit');
    expect(units.length).toBe(x.units.length);
    expect(units.map((u) => Number(u.dataset.rank))).toEqual([4, 3, 1, 2, 5]);
    units.forEach((el, i) => {
      expect(Number(el.dataset.score)).toBeCloseTo(x.units[i]!.score, 12);
      const [r, g, b] = rgbOf(el);
      const s = x.units[i]!.score;
      if (s > 0) expect(r).toBeGreaterThan(b);
      else if (s < 0) expect(b).toBeGreaterThan(r);
      else expect([r, g, b]).toEqual([255, 255, 255]);
    });
    // the strongest unit takes the end of the scale
    expect(rgbOf(units[2]!)).toEqual([230, 97, 1]);
  });

  it('keeps the characters between tokens, chips the BOS token and underlines the target', () => {
    const x = testExplanation();
    render(<PromptHeatmap explanation={x} />);
    const root = screen.getByTestId('prompt-heatmap');
    expect(root.querySelector('p')!.textContent).toBe('<s>The cat sat on mat');
    const chip = root.querySelector('.atman-chip')!;
    expect(chip.textContent).toBe('<s>');
    expect(root.querySelector('.atman-target')!.textContent).toBe(' on mat');
  });

  it('renders the real per-token run: word units, BOS chip, empty target token', () => {
    const x = llama as unknown as Explanation;
    render(<PromptHeatmap explanation={x} />);
    const units = screen.getAllByTestId('unit');
    expect(units.length).toBe(x.units.length);
    const its = units.find((u) => u.dataset.unit === '8')!;
    expect(its.textContent).toBe(' Its');
    expect(its.getAttribute('aria-label')).toMatch(/^unit 'Its', score -3\.51, rank 18 of 18$/);
    const p = screen.getByTestId('prompt-heatmap').querySelector('p')!;
    expect(p.textContent).toBe('<s>' + x.prompt + '[259]' + x.target);
  });

  it('shows a tooltip with exact score, rank and label on hover and on focus', () => {
    const x = testExplanation();
    render(<PromptHeatmap explanation={x} />);
    const cat = screen.getAllByTestId('unit')[2]!;
    expect(screen.queryByRole('tooltip')).toBeNull();
    fireEvent.mouseEnter(cat);
    const tip = screen.getByRole('tooltip');
    expect(tip.textContent).toContain('cat');
    expect(tip.textContent).toContain('+2.079');
    expect(tip.textContent).toContain('rank 1 of 5');
    expect(cat.getAttribute('aria-describedby')).toBe(tip.id);
    fireEvent.mouseLeave(cat);
    expect(screen.queryByRole('tooltip')).toBeNull();

    const on = screen.getAllByTestId('unit')[4]!;
    act(() => on.focus());
    expect(screen.getByRole('tooltip').textContent).toContain('rank 5 of 5');
    expect(screen.getByRole('tooltip').textContent).toContain('-0.5000');
    act(() => on.blur());
    expect(screen.queryByRole('tooltip')).toBeNull();
  });

  it('is keyboard operable: focusable units, Enter and Space select, aria-label', () => {
    const x = testExplanation();
    const onSelect = vi.fn();
    const { rerender } = render(<PromptHeatmap explanation={x} onSelectUnit={onSelect} />);
    const units = screen.getAllByTestId('unit');
    for (const u of units) expect(u.tabIndex).toBe(0);
    expect(units[2]!.getAttribute('aria-label')).toBe("unit 'cat', score +2.08, rank 1 of 5");
    fireEvent.keyDown(units[2]!, { key: 'Enter' });
    expect(onSelect).toHaveBeenLastCalledWith(2);
    fireEvent.keyDown(units[3]!, { key: ' ' });
    expect(onSelect).toHaveBeenLastCalledWith(3);
    fireEvent.keyDown(units[3]!, { key: 'a' });
    expect(onSelect).toHaveBeenCalledTimes(2);
    fireEvent.click(units[0]!);
    expect(onSelect).toHaveBeenLastCalledWith(0);

    rerender(<PromptHeatmap explanation={x} onSelectUnit={onSelect} selectedUnit={3} />);
    const sel = screen.getAllByTestId('unit')[3]!;
    expect(sel.className).toContain('atman-selected');
    expect(sel.getAttribute('aria-pressed')).toBe('true');
    fireEvent.keyDown(sel, { key: 'Enter' });
    expect(onSelect).toHaveBeenLastCalledWith(null); // selecting the selected unit clears it
  });

  it('renders token text as text, never as markup', () => {
    const x = gpt2 as unknown as Explanation;
    const { container } = render(<PromptHeatmap explanation={x} />);
    expect(container.querySelector('img')).toBeNull();
    expect(screen.getByTestId('prompt-heatmap').textContent).toContain('<img src=x onerror=alert(1)>');

    cleanup();
    const evil = '<img src=x onerror=alert(1)>';
    const y = testExplanation({
      prompt: evil,
      tokens: [
        { id: 1, text: evil, start: 0, end: evil.length, role: 'prompt' },
        { id: 2, text: 'x', start: 0, end: 1, role: 'target' },
      ],
      units: [{ label: evil, positions: [0], score: 1, perTarget: [1], factors: [[0, 0.1]] }],
      baseline: { crossEntropy: [1] },
      target: 'x',
    });
    const r = render(<PromptHeatmap explanation={y} />);
    const unit = screen.getByTestId('unit');
    fireEvent.mouseEnter(unit);
    expect(r.container.querySelector('img')).toBeNull();
    expect(unit.textContent).toBe(evil);
    expect(within(screen.getByRole('tooltip')).getByText(evil)).toBeTruthy();
    expect(unit.getAttribute('aria-label')).toContain(evil);
  });

  it('outlines the positions a hovered unit drags along', () => {
    const x = testExplanation();
    const onHover = vi.fn();
    const { container, rerender } = render(<PromptHeatmap explanation={x} onHoverUnit={onHover} />);
    expect(container.querySelectorAll('.atman-drag').length).toBe(0);
    fireEvent.mouseEnter(screen.getAllByTestId('unit')[2]!); // "cat" drags "on" (position 4) along
    expect(onHover).toHaveBeenLastCalledWith(2);
    const dragged = [...container.querySelectorAll<HTMLElement>('.atman-drag')];
    expect(dragged.map((d) => d.dataset.pos)).toEqual(['4']);
    expect(dragged[0]!.dataset.drag).toBe('0.37');
    expect(screen.getByRole('tooltip').textContent).toContain('drags along 1 more position');

    // the app passes the plan's factors instead
    rerender(<PromptHeatmap explanation={x} onHoverUnit={onHover} dragAlong={[[2, 0.1], [1, 0.5], [3, 0.8]]} />);
    expect([...container.querySelectorAll<HTMLElement>('.atman-drag')].map((d) => d.dataset.pos)).toEqual(['1', '3']);
  });

  it('shows one target token\'s explanation and greys out units after it', () => {
    const x = testExplanation();
    const { container } = render(<PromptHeatmap explanation={x} targetIndex={0} />);
    const units = screen.getAllByTestId('unit');
    expect(units.map((u) => Number(u.dataset.score))).toEqual(x.units.map((u) => u.perTarget[0]));
    expect(units[4]!.className).toContain('atman-na');
    expect(units[4]!.getAttribute('aria-label')).toContain('cannot affect this target token');
    expect(container.querySelector('.atman-explained')!.textContent).toBe('on');
  });
});
