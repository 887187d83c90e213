// The settings: the three that matter first (units, factor, target) up front, the rest folded
// under "Advanced"; each with one line on what it does and a link to its part of the method page.
import type { ReactNode } from 'react';
import { DEFAULT_DRILL_SHARE, DEFAULT_DRILL_TOP, MAX_DRILL_TOP, canDrillFrom } from '../../core/drill-down';
import { type ControlMode, DEFAULT_SETTINGS, type ExplainSettings, type PostProcess, type TargetGranularity, type TokenOverlap } from '../../core/types';
import { selectBusy, selectChatTemplate, selectLayerCount, selectSettings, selectSpeed } from '../../state/selectors';
import { useApp, useServices } from './app-context';
import { DocumentQaPreset } from '../presets/DocumentQaPreset';
import { type MethodSection, methodDocHref } from './method-doc';

type GranKind = 'token' | 'word' | 'sentence' | 'paragraph' | 'delimiter';

function Help({ id, children, section }: { id: string; children: ReactNode; section?: MethodSection }): ReactNode {
  return (
    <span className="help" id={id}>
      {children}
      {section ? (
        <>
          {' '}
          <a className="method-link" href={methodDocHref(section)} target="_blank" rel="noopener" data-testid={`method-link-${id}`}>
            method
          </a>
        </>
      ) : null}
    </span>
  );
}

/** The folded settings that differ from their defaults, in words, so a folded section hides nothing. */
export function advancedChanges(s: ExplainSettings, speed: { prefixReuse: boolean; scoreHead: boolean; coupledNumerics: string }): string[] {
  const d = DEFAULT_SETTINGS;
  const out: string[] = [];
  if (s.chat !== d.chat) out.push(s.chat ? 'chat template on' : 'chat template off');
  if (s.mode !== d.mode) out.push(s.mode);
  if (s.kappa !== d.kappa) out.push(s.kappa === null ? 'conceptual suppression off' : `kappa ${s.kappa}`);
  if (s.postprocess !== d.postprocess) out.push(`post-processing ${s.postprocess}`);
  if (s.tokenOverlap !== d.tokenOverlap) out.push(`${s.tokenOverlap} token overlap`);
  if (!speed.prefixReuse) out.push('prefix reuse off');
  if (!speed.scoreHead) out.push('score head off');
  if (speed.coupledNumerics !== 'exact') out.push('8-bit dequantized');
  if (s.layers !== null) out.push(`layers ${s.layers.join(', ')}`);
  return out;
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
  const changed = advancedChanges(s, speed);

  return (
    <section className="panel settings" aria-labelledby="settings-heading">
      <h2 id="settings-heading">Settings</h2>
      <fieldset disabled={busy} data-testid="settings-basic">
        <DocumentQaPreset />
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
          <Help id="h-gran" section="units">
            What is suppressed together: one pass per unit, so coarser units run faster.
          </Help>
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
          <Help id="h-factor" section="manipulation">
            How much of a suppressed unit&apos;s attention is kept: 0.1 suppresses (default), 1 changes nothing, above 1 amplifies.
          </Help>
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
              refine up to{' '}
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
          <Help id="h-drill" section="drillDown">
            Refines level by level (sentence, word, token) the strongest units, up to this many, each at least {DEFAULT_DRILL_SHARE} of the strongest: exact scores, fewer passes.
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
          <Help id="h-tgran" section="scores">
            One score over the whole target, or a matrix with a score for every target token.
          </Help>
        </div>
      </fieldset>
      {/* Folded on every visit: the three settings above are the ones to try first. */}
      <details className="settings-advanced" data-testid="settings-advanced">
        <summary data-testid="settings-advanced-open">
          Advanced{changed.length ? <span className="muted" data-testid="settings-advanced-changed">: {changed.join(', ')}</span> : <span className="muted"> (mode, conceptual suppression, speed, layers…)</span>}
        </summary>
        <fieldset disabled={busy}>
          <div className="setting">
            <label>
              <input type="checkbox" data-testid="chat-template" aria-describedby="h-chat" checked={s.chat} onChange={(e) => update({ chat: e.target.checked })} /> Chat template
              {hasTemplate === false ? <span className="muted"> (this model has none)</span> : null}
            </label>
            <Help id="h-chat" section="sequence">
              Instruct models answer inside their chat template: the prompt is the user&apos;s message, the target the assistant&apos;s reply.
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
            <Help id="h-mode" section="manipulation">
              Multiplicative scales the attention scores (the paper); log-additive adds log(factor). Both work on every model.
            </Help>
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
            <Help id="h-kappa" section="conceptual">
              Also suppresses the tokens whose embeddings are at least kappa-similar to the unit&apos;s (repeats, synonyms); 0.7 in the paper.
            </Help>
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
            <Help id="h-post" section="scores">
              Applied to each target token&apos;s score before summing: absolute or square count evidence against the target too.
            </Help>
          </div>
          <div className="setting">
            <label>
              Token overlap{' '}
              <select data-testid="token-overlap" aria-describedby="h-overlap" value={s.tokenOverlap} onChange={(e) => update({ tokenOverlap: e.target.value as TokenOverlap })}>
                <option value="complete">complete</option>
                <option value="partial">partial</option>
              </select>
            </label>
            <Help id="h-overlap" section="units">
              A unit covering part of a token suppresses all of it (complete) or in proportion to the covered characters (partial).
            </Help>
          </div>
          <div className="setting" role="group" aria-labelledby="speed-label">
            <span id="speed-label">Speed </span>
            <label>
              <input type="checkbox" data-testid="prefix-reuse" aria-describedby="h-speed" checked={speed.prefixReuse} onChange={(e) => setSpeed({ prefixReuse: e.target.checked })} /> prefix reuse
            </label>{' '}
            <label>
              <input type="checkbox" data-testid="score-head" aria-describedby="h-speed" checked={speed.scoreHead} onChange={(e) => setSpeed({ scoreHead: e.target.checked })} /> score head
            </label>
            <Help id="h-speed" section="speed">
              Same scores either way: they skip work the scores do not need. Turn them off to compare the time.
            </Help>
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
            <Help id="h-coupled" section="speed">
              Some 8-bit (q8) models run one pass at a time for exact scores; this variant batches them and says how far the scores moved.
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
            <Help id="h-layers" section="manipulation">
              The layers whose attention is manipulated; all by default.
            </Help>
          </div>
        </fieldset>
      </details>
    </section>
  );
}
