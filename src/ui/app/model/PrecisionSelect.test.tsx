// @vitest-environment happy-dom
import { act, cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Actions } from '../../../state/actions';
import { variantsKey } from '../../../state/slices/model-slice';
import { createAppStore } from '../../../state/slices/store';
import { AppContext } from '../app-context';
import { PrecisionSelect } from './PrecisionSelect';

afterEach(cleanup);

const memory = () => {
  const m = new Map<string, string>();
  return { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v), removeItem: (k: string) => void m.delete(k) };
};

const MB = 1024 ** 2;

function mount(repo = 'test/only-q4f16') {
  const store = createAppStore(memory());
  store.setState({ modelChoice: { kind: 'hub', repo }, backend: 'auto' });
  const actions = { listVariants: vi.fn(async () => {}) } as unknown as Actions;
  const onChoose = vi.fn((c) => store.getState().chooseModel(c));
  render(
    <AppContext.Provider value={{ store, actions }}>
      <PrecisionSelect onChoose={onChoose} />
    </AppContext.Provider>,
  );
  const options = () => [...(screen.getByTestId('dtype-select') as HTMLSelectElement).options].map((o) => [o.value, o.textContent]);
  return { store, actions, onChoose, options };
}

describe('PrecisionSelect', () => {
  it('asks for the listing, then offers auto and the variants the repository has, with sizes and the reason', async () => {
    const { store, actions, options } = mount();
    expect(actions.listVariants).toHaveBeenCalled();
    // Not listed yet: auto plus every dtype, so the user can still override by hand.
    expect(options().map(([v]) => v)).toEqual(['auto', 'fp32', 'fp16', 'q8', 'q4', 'q4f16']);
    expect(screen.getByTestId('dtype-choice').textContent).toBe('Listing the repository…');
    const reason = 'auto for WASM, which prefers q4 > q8 > fp32 > fp16 > q4f16; the repository has no q4 or q8 or fp32 or fp16: chose q4f16 (onnx/model_q4f16.onnx, 90 MB).';
    act(() =>
      store.setState({
        variants: {
          key: variantsKey(store.getState().modelChoice, 'auto'),
          listing: { variants: [{ dtype: 'q4f16', bytes: 90 * MB }], chosen: { dtype: 'q4f16', bytes: 90 * MB, file: 'onnx/model_q4f16.onnx', reason } },
          error: null,
        },
      }),
    );
    await vi.waitFor(() => expect(options()).toEqual([['auto', 'auto (q4f16, 90 MB)'], ['q4f16', 'q4f16, 90 MB']]));
    expect(screen.getByTestId('dtype-choice').textContent).toBe(`Loads onnx/model_q4f16.onnx (90 MB): ${reason}`);
  });

  it('an explicit choice goes into the model choice; auto takes it out', () => {
    const { store, onChoose } = mount('acme/model');
    fireEvent.change(screen.getByTestId('dtype-select'), { target: { value: 'q4' } });
    expect(onChoose).toHaveBeenLastCalledWith({ kind: 'hub', repo: 'acme/model', dtype: 'q4' });
    expect(store.getState().modelChoice).toEqual({ kind: 'hub', repo: 'acme/model', dtype: 'q4' });
    fireEvent.change(screen.getByTestId('dtype-select'), { target: { value: 'auto' } });
    expect(store.getState().modelChoice).toEqual({ kind: 'hub', repo: 'acme/model' });
  });

  it('shows why nothing can load, and keeps an asked-for dtype the repository lacks visible', async () => {
    const { store } = mount();
    act(() => store.getState().chooseModel({ kind: 'hub', repo: 'test/only-q4f16', dtype: 'q8' }));
    act(() => store.setState({
      variants: {
        key: variantsKey({ kind: 'hub', repo: 'test/only-q4f16', dtype: 'q8' }, 'auto'),
        listing: { variants: [{ dtype: 'q4f16', bytes: 90 * MB }], chosen: null, problem: 'test/only-q4f16 has no q8 variant (looked for onnx/model_quantized.onnx).' },
        error: null,
      },
    }));
    await vi.waitFor(() => expect((screen.getByTestId('dtype-select') as HTMLSelectElement).value).toBe('q8'));
    expect([...(screen.getByTestId('dtype-select') as HTMLSelectElement).options].map((o) => o.textContent)).toEqual([
      'auto (by backend and what the repository has)',
      'q4f16, 90 MB',
      'q8 (not in this repository)',
    ]);
    expect(screen.getByTestId('dtype-choice').textContent).toContain('has no q8 variant');
  });

  it('is absent for models that are not from the hub', () => {
    const store = createAppStore(memory());
    render(
      <AppContext.Provider value={{ store, actions: { listVariants: vi.fn() } as unknown as Actions }}>
        <PrecisionSelect onChoose={vi.fn()} />
      </AppContext.Provider>,
    );
    expect(screen.queryByTestId('dtype-select')).toBeNull();
  });
});
