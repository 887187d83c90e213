// Every engine setting, each with one line on what it does.
import type { ReactNode } from 'react';
import { DEFAULT_DRILL_TOP, MAX_DRILL_TOP, canDrillFrom } from '../../core/drill-down';
import type { ControlMode, PostProcess, TargetGranularity, TokenOverlap } from '../../core/types';
import { selectBusy, selectChatTemplate, selectLayerCount, selectSettings, selectSpeed } from '../../state/selectors';
import { useApp, useServices } from './app-context';
import { DocumentQaPreset } from '../presets/DocumentQaPreset';

type GranKind = 'token' | 'word' | 'sentence' | 'paragraph' | 'delimiter';

function Help({ id, children }: { id: string; children: ReactNode }): ReactNode {
  return (
    <span className="help" id={id}>
      {children}
    </span>
  );
}

export function SettingsPanel(): ReactNode {
  const s = useApp(selectSettings);
  const layers = useApp(selectLayerCount);
  const hasTemplate = useApp(selectChatTemplate);
  const busy = useApp(selectBusy);
  const { store } = useServices();
  const update = store.getState().updateSettings;
  const speed = useApp(selectSpeed);
  const setSpeed = store.getState().setSpeed;
  const g = s.granularity;
  const kind: GranKind = g.kind === 'chunks' ? 'token' : g.kind;

  return (
    <section className="panel settings" aria-labelledby="settings-heading">
      <h2 id="settings-heading">Settings</h2>
      <fieldset disabled={busy}>
        <DocumentQaPreset />
        <div className="setting">
          <label>
            <input type="checkbox" data-testid="chat-template" aria-describedby="h-chat" checked={s.chat} onChange={(e) => update({ chat: e.target.checked })} /> Chat template
            {hasTemplate === false ? <span className="muted"> (this model has none)</span> : null}
          </label>
          <Help id="h-chat">
            Instruction-tuned models answer inside their chat template: the prompt becomes the user&apos;s message and the target the assistant&apos;s reply; the template&apos;s own tokens show muted and are never units. Off reads the prompt as raw text.
          </Help>
        </div>
        <div className="setting">
          <label>
            Mode{' '}
            <select data-testid="mode-select" aria-describedby="h-mode" value={s.mode} onChange={(e) => update({ mode: e.target.value as ControlMode })}>
              <option value="multiplicative">multiplicative (paper)</option>
              <option value="log-additive">log-additive (production API)</option>
            </select>
          </label>
          <Help id="h-mode">Multiplicative scales the attention scores (the paper); log-additive adds log(factor). Both work on every model: fused attention is rewritten as standard ops at load.</Help>
        </div>
        <div className="setting">
          <label>
            Factor{' '}
            <input
              type="number"
              data-testid="factor"
              aria-describedby="h-factor"
              min={0}
              step={0.05}
              value={s.factor}
              className="narrow"
              onChange={(e) => e.target.value !== '' && Number(e.target.value) >= 0 && update({ factor: Number(e.target.value) })}
            />
          </label>
          <Help id="h-factor">How much of a suppressed unit's attention is kept: 0.1 suppresses (default), 1 changes nothing, above 1 amplifies.</Help>
        </div>
        <div className="setting">
          <label>
            <input
              type="checkbox"
              data-testid="conceptual"
              aria-describedby="h-kappa"
              checked={s.kappa !== null}
              onChange={(e) => update({ kappa: e.target.checked ? 0.7 : null })}
            />{' '}
            Conceptual suppression
          </label>{' '}
          <label>
            kappa{' '}
            <input
              type="number"
              data-testid="kappa"
              min={0}
              max={1}
              step={0.05}
              className="narrow"
              disabled={s.kappa === null}
              value={s.kappa ?? 0.7}
              onChange={(e) => {
                const k = Number(e.target.value);
                if (e.target.value !== '' && k >= 0 && k <= 1) update({ kappa: k });
              }}
            />
          </label>
          <Help id="h-kappa">Also suppresses tokens whose embeddings are at least kappa-similar to the unit (same word again, synonyms); 0.7 in the paper.</Help>
        </div>
        <div className="setting">
          <label>
            Units{' '}
            <select
              data-testid="granularity"
              aria-describedby="h-gran"
              value={kind}
              onChange={(e) => {
                const k = e.target.value as GranKind;
                const granularity = k === 'delimiter' ? { kind: 'delimiter' as const, delimiter: g.kind === 'delimiter' ? g.delimiter : ';' } : { kind: k };
                // Drill-down needs a level with a finer one below it; it goes off where there is none.
                update({ granularity, ...(s.drillDown && !canDrillFrom(granularity) ? { drillDown: undefined } : {}) });
              }}
            >
              <option value="token">token</option>
              <option value="word">word</option>
              <option value="sentence">sentence</option>
              <option value="paragraph">paragraph</option>
              <option value="delimiter">split at a delimiter</option>
            </select>
          </label>
          {g.kind === 'delimiter' ? (
            <label>
              {' '}
              delimiter{' '}
              <input
                data-testid="delimiter"
                className="narrow"
                value={g.delimiter}
                maxLength={20}
                onChange={(e) => e.target.value !== '' && update({ granularity: { kind: 'delimiter', delimiter: e.target.value } })}
              />
            </label>
          ) : null}
          <Help id="h-gran">What is suppressed together in one pass: one pass per unit, so coarser units run faster.</Help>
        </div>
        <div className="setting">
          <label>
            <input
              type="checkbox"
              data-testid="drill-down"
              aria-describedby="h-drill"
              checked={Boolean(s.drillDown)}
              onChange={(e) =>
                update(
                  e.target.checked
                    ? { drillDown: { top: DEFAULT_DRILL_TOP }, ...(canDrillFrom(g) ? {} : { granularity: { kind: 'sentence' } }) }
                    : { drillDown: undefined },
                )
              }
            />{' '}
            Drill down
          </label>
          {s.drillDown ? (
            <label>
              {' '}
              refine the strongest{' '}
              <input
                type="number"
                data-testid="drill-top"
                className="narrow"
                min={1}
                max={MAX_DRILL_TOP}
                step={1}
                value={s.drillDown.top}
                onChange={(e) => {
                  const top = Number(e.target.value);
                  if (Number.isInteger(top) && top >= 1 && top <= MAX_DRILL_TOP) update({ drillDown: { top } });
                }}
              />
            </label>
          ) : null}
          <Help id="h-drill">
            Explains the units above, then only inside the strongest few at the next finer level (sentence, word, token): each score is the one a full run at that level gives, at a fraction of the passes on long documents.
          </Help>
        </div>
        <div className="setting">
          <label>
            Target{' '}
            <select
              data-testid="target-granularity"
              aria-describedby="h-tgran"
              value={s.targetGranularity}
              onChange={(e) => update({ targetGranularity: e.target.value as TargetGranularity })}
            >
              <option value="complete">whole target</option>
              <option value="token">per target token</option>
            </select>
          </label>
          <Help id="h-tgran">Per token keeps a score for every target token (a matrix); earlier target tokens then also explain later ones.</Help>
        </div>
        <div className="setting">
          <label>
            Post-processing{' '}
            <select data-testid="postprocess" aria-describedby="h-post" value={s.postprocess} onChange={(e) => update({ postprocess: e.target.value as PostProcess })}>
              <option value="none">none</option>
              <option value="absolute">absolute</option>
              <option value="square">square</option>
            </select>
          </label>
          <Help id="h-post">Applied to each target token's score before summing: absolute or square count evidence against the target as relevant too.</Help>
        </div>
        <div className="setting">
          <label>
            Token overlap{' '}
            <select data-testid="token-overlap" aria-describedby="h-overlap" value={s.tokenOverlap} onChange={(e) => update({ tokenOverlap: e.target.value as TokenOverlap })}>
              <option value="complete">complete</option>
              <option value="partial">partial</option>
            </select>
          </label>
          <Help id="h-overlap">A unit covering part of a token suppresses it fully (complete) or in proportion to the covered characters (partial).</Help>
        </div>
        <div className="setting" role="group" aria-labelledby="speed-label">
          <span id="speed-label">Speed </span>
          <label>
            <input type="checkbox" data-testid="prefix-reuse" aria-describedby="h-speed" checked={speed.prefixReuse} onChange={(e) => setSpeed({ prefixReuse: e.target.checked })} /> prefix reuse
          </label>{' '}
          <label>
            <input type="checkbox" data-testid="score-head" aria-describedby="h-speed" checked={speed.scoreHead} onChange={(e) => setSpeed({ scoreHead: e.target.checked })} /> score head
          </label>
          <Help id="h-speed">Same scores either way. Prefix reuse starts each pass at the unit's first suppressed token, reusing the unperturbed pass's keys and values; the score head sends only the target rows through the output layer. Turn them off to compare.</Help>
          <label>
            <input
              type="checkbox"
              data-testid="coupled-dequantized"
              aria-describedby="h-coupled"
              checked={speed.coupledNumerics === 'dequantized'}
              onChange={(e) => setSpeed({ coupledNumerics: e.target.checked ? 'dequantized' : 'exact' })}
            />{' '}
            8-bit models: faster dequantized variant
          </label>
          <Help id="h-coupled">
            Some 8-bit models (q8) quantize each layer's input with one scale over all tokens, so batching changes their numbers: by default they run one pass at a time for exact scores. The dequantized variant batches again but moves the scores; the result says by how much.
          </Help>
        </div>
        <div className="setting" role="group" aria-labelledby="layers-label">
          <span id="layers-label">Layers </span>
          {layers === null ? (
            <span className="muted">all (load the model to pick single layers)</span>
          ) : (
            <span className="layers" data-testid="layers">
              <label>
                <input type="checkbox" checked={s.layers === null} onChange={(e) => update({ layers: e.target.checked ? null : [0] })} /> all
              </label>
              {Array.from({ length: layers }, (_, i) => (
                <label key={i}>
                  <input
                    type="checkbox"
                    aria-label={`layer ${i}`}
                    checked={s.layers === null || s.layers.includes(i)}
                    onChange={(e) => {
                      const cur = s.layers ?? Array.from({ length: layers }, (_, j) => j);
                      const next = e.target.checked ? [...cur, i].sort((a, b) => a - b) : cur.filter((l) => l !== i);
                      if (next.length === 0) return;
                      update({ layers: next.length === layers ? null : next });
                    }}
                  />
                  {i}
                </label>
              ))}
            </span>
          )}
          <Help id="h-layers">The layers whose attention is manipulated; all by default.</Help>
        </div>
      </fieldset>
    </section>
  );
}
