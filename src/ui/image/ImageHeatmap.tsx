// The image units of a result drawn over the picture: colours on the text heatmap's scale, an
// opacity slider, tiles or the global frame of a split picture, one target token or the whole
// target, hover/focus for a unit's score and rank, a rectangle to draw and explain as one more
// unit, and a PNG of it all. Inside the app it reads the picture and its view from the store;
// without one (tests, other hosts) it keeps its own view settings and shows no picture.
import { useContext, useEffect, useId, useMemo, useRef, useState, useSyncExternalStore } from 'react';
import type { PointerEvent as ReactPointerEvent, ReactNode } from 'react';
import type { Rect, Size } from '../../core/image-regions';
import type { Explanation } from '../../runtime/schema';
import { DEFAULT_IMAGE_VIEW, type FrameChoice, type ImageView, clampRect, drawnRegionLabel } from '../../state/slices/image-slice';
import type { AppState, AppStore } from '../../state/slices/store';
import { AppContext } from '../app/app-context';
import { legendGradient } from '../results/Legend';
import { downloadBlob, fileStem } from '../results/export-view';
import { type ColourScale, formatScore, ranks, targetTokens, tokenLabel, unitLabel } from '../results/score-view';
import { type OverlayCell, displaySize, drawOverlay, frameOptions, fromDisplay, gridCells, imageCells } from './image-overlay';
import { overlayPng } from './overlay-png';
import { useObjectUrl } from './use-object-url';
import './image.css';

export interface ImageHeatmapProps {
  explanation: Explanation;
  /** one score per unit, as the text heatmap shows them (whole target or one target token) */
  scores: readonly number[];
  /** the text heatmap's scale: text and picture share one normalisation */
  scale: ColourScale;
  targetIndex: number | null;
  selectedUnit: number | null;
  onSelectUnit: (unit: number | null) => void;
  onHoverUnit?: (unit: number | null) => void;
  onSelectTarget?: (t: number | null) => void;
  /** largest displayed side in pixels; default 520 */
  maxSide?: number;
}

const noSubscribe = () => () => {};

/** A store field when the app's store is there, else the fallback (stable per render). */
function useMaybeStore<T>(store: AppStore | null, pick: (s: AppState) => T, fallback: T): T {
  return useSyncExternalStore(
    store ? store.subscribe : noSubscribe,
    () => (store ? pick(store.getState()) : fallback),
    () => (store ? pick(store.getState()) : fallback),
  );
}

interface Active {
  unit: number;
  left: number;
  top: number;
}

const NO_REGIONS: Rect[] = [];

export function ImageHeatmap(props: ImageHeatmapProps): ReactNode {
  const { explanation: x, scores, scale, targetIndex, selectedUnit, onSelectUnit, onHoverUnit, onSelectTarget, maxSide = 520 } = props;
  const services = useContext(AppContext);
  const store = services?.store ?? null;
  const picked = useMaybeStore(store, (s) => s.image, null);
  const storeView = useMaybeStore(store, (s) => s.imageView, null);
  const brush = useMaybeStore(store, (s) => s.brush, null);
  const regions = useMaybeStore(store, (s) => s.imageRegions, NO_REGIONS);
  const resultKey = useMaybeStore(store, (s) => s.explanationImageKey, null);
  const busy = useMaybeStore(store, (s) => s.status !== 'idle', false);
  const [localView, setLocalView] = useState<ImageView>(DEFAULT_IMAGE_VIEW);
  const view = storeView ?? localView;
  const setView = (patch: Partial<ImageView>) => (store ? store.getState().setImageView(patch) : setLocalView((v) => ({ ...v, ...patch })));

  const im = x.image!;
  const imageSize: Size = { width: im.width, height: im.height };
  // The chosen picture is drawn under the scores when it is the one they were computed on (or,
  // for a shared result, a picture of the same shape: a link may carry a reduced copy).
  const sameShape = !!picked?.width && !!picked.height && Math.abs(picked.width / picked.height - im.width / im.height) < 0.02;
  const matches = !!picked && (resultKey !== null ? resultKey === picked.key : sameShape);
  const shown = matches ? picked : null;
  const src = useObjectUrl(shown?.blob);
  const pictureSize: Size = shown?.width && shown.height ? { width: shown.width, height: shown.height } : imageSize;

  const rank = useMemo(() => ranks(scores), [scores]);
  const cells = useMemo(() => imageCells(x, scores, rank), [x, scores, rank]);
  const options = frameOptions(cells);
  const grid = useMemo(() => gridCells(cells, view.frames), [cells, view.frames]);
  const drawn = useMemo(() => cells.filter((c) => c.kind === 'drawn'), [cells]);
  const whole = useMemo(() => cells.filter((c) => c.kind === 'whole'), [cells]);

  const wrapRef = useRef<HTMLDivElement>(null);
  const svgRef = useRef<SVGSVGElement>(null);
  const imgRef = useRef<HTMLImageElement>(null);
  const [room, setRoom] = useState(maxSide);
  useEffect(() => {
    const el = wrapRef.current;
    if (!el || typeof ResizeObserver === 'undefined') return;
    const ro = new ResizeObserver(() => setRoom(Math.max(160, Math.min(maxSide, el.clientWidth || maxSide))));
    ro.observe(el);
    return () => ro.disconnect();
  }, [maxSide]);
  const display = displaySize(imageSize, room, maxSide);

  const [active, setActive] = useState<Active | null>(null);
  const [drawing, setDrawing] = useState(false);
  // A colourful picture competes with the score colours; in grey only the scores carry colour.
  const [grey, setGrey] = useState(false);
  const [drag, setDragState] = useState<{ x0: number; y0: number; rect: Rect | null } | null>(null);
  // Pointer events can outrun React's re-render under load: the handlers read the drag from a ref.
  const dragRef = useRef<{ x0: number; y0: number; rect: Rect | null } | null>(null);
  const setDrag = (d: { x0: number; y0: number; rect: Rect | null } | null) => {
    dragRef.current = d;
    setDragState(d);
  };
  const tipId = useId();

  // The regions sent with the next run that this result does not hold yet.
  const explainedRegions = drawn.length;
  const pendingRegions = regions.slice(explainedRegions);
  const shownBrush = drag?.rect ?? brush;

  useEffect(() => {
    const svg = svgRef.current;
    if (!svg) return;
    drawOverlay(svg, {
      image: imageSize,
      display,
      scale,
      opacity: view.opacity,
      cells: grid,
      drawn,
      unitCount: scores.length,
      selectedUnit,
      activeUnit: active?.unit ?? null,
      brush: shownBrush ? scaleToImage(shownBrush, pictureSize, imageSize) : null,
      pendingRegions: pendingRegions.map((r) => scaleToImage(r, pictureSize, imageSize)),
      onHover: (unit, el) => {
        if (unit === null || !el) {
          setActive(null);
          onHoverUnit?.(null);
          return;
        }
        const r = el.getBoundingClientRect();
        const c = wrapRef.current?.querySelector('.atman-image-stage')?.getBoundingClientRect();
        setActive({ unit, left: r.left - (c?.left ?? 0), top: r.bottom - (c?.top ?? 0) + 4 });
        onHoverUnit?.(unit);
      },
      onSelect: (unit) => {
        if (!drawing) onSelectUnit(unit === selectedUnit ? null : unit);
      },
    });
  });

  const T = x.baseline.crossEntropy.length;
  const targets = targetTokens(x);
  const activeCell = active ? cells.find((c) => c.unit === active.unit) : undefined;
  const caption =
    targetIndex === null ? 'score over the whole target' : `score for target token ${JSON.stringify(tokenLabel(targets[targetIndex]!))}`;

  // Drawing: pointer positions in the <svg>'s pixels, then in the picture's own pixels.
  const pointAt = (e: ReactPointerEvent<SVGSVGElement>) => {
    const r = e.currentTarget.getBoundingClientRect();
    const sx = r.width > 0 ? display.width / r.width : 1;
    const sy = r.height > 0 ? display.height / r.height : 1;
    return { x: Math.max(0, Math.min(display.width, (e.clientX - r.left) * sx)), y: Math.max(0, Math.min(display.height, (e.clientY - r.top) * sy)) };
  };
  const toPicture = (x0: number, y0: number, x1: number, y1: number): Rect | null =>
    clampRect(
      fromDisplay({ x: Math.min(x0, x1), y: Math.min(y0, y1), width: Math.abs(x1 - x0), height: Math.abs(y1 - y0) }, pictureSize, display),
      pictureSize.width,
      pictureSize.height,
    );
  const canDraw = !!store && !!shown;

  const explainRegion = async () => {
    if (!store || !services) return;
    const st = store.getState();
    if (!st.brush) return;
    st.addRegion(st.brush);
    const k = store.getState().imageRegions.length;
    setDrawing(false);
    await services.actions.explain();
    const after = store.getState().explanation;
    const u = after?.units.findIndex((unit) => unit.label === drawnRegionLabel(k)) ?? -1;
    if (u >= 0) store.getState().selectUnit(u);
  };

  const exportPng = () => {
    const pic = imgRef.current && imgRef.current.complete && imgRef.current.naturalWidth > 0 ? imgRef.current : null;
    const title = `AtMan on ${x.model.id}: ${caption}${options.length ? ` (${view.frames})` : ''}`;
    overlayPng({ picture: pic, image: imageSize, cells: grid, drawn, scale, opacity: view.opacity, title, caption, selectedUnit, grey }).then(
      (b) => downloadBlob(b, `${fileStem(x)}-image.png`),
      (e: unknown) => store?.getState().setError({ code: 'EXPORT_FAILED', message: `The PNG could not be made: ${(e as Error).message}` }),
    );
  };

  return (
    <figure className="atman-figure atman-image-heatmap" data-testid="image-heatmap" data-frames={view.frames} data-cells={grid.length} ref={wrapRef}>
      <figcaption>
        Scores of the picture's {cells.length} image unit{cells.length === 1 ? '' : 's'} ({caption}), on the same colour scale as the text
      </figcaption>
      <div className="atman-image-controls" role="group" aria-label="image overlay settings">
        <label>
          opacity{' '}
          <input
            type="range"
            min={0}
            max={1}
            step={0.05}
            value={view.opacity}
            data-testid="image-opacity"
            aria-label="overlay opacity"
            onChange={(e) => setView({ opacity: Number(e.target.value) })}
          />
        </label>
        {src ? (
          <label>
            <input type="checkbox" data-testid="image-grey" checked={grey} onChange={(e) => setGrey(e.target.checked)} /> picture in grey
          </label>
        ) : null}
        {options.length ? (
          <span role="radiogroup" aria-label="which frames to show" data-testid="image-frames">
            {options.map((o) => (
              <label key={o.value} className="atman-image-radio">
                <input type="radio" name={`${tipId}-frames`} value={o.value} checked={view.frames === o.value} onChange={() => setView({ frames: o.value as FrameChoice })} />{' '}
                {o.label} ({o.units})
              </label>
            ))}
          </span>
        ) : null}
        {T > 1 && onSelectTarget ? (
          <label>
            target{' '}
            <select
              data-testid="image-target"
              value={targetIndex ?? -1}
              onChange={(e) => {
                const t = Number(e.target.value);
                onSelectTarget(t < 0 ? null : t);
              }}
            >
              <option value={-1}>whole target</option>
              {targets.map((tok, t) => (
                <option key={t} value={t}>
                  token {t + 1}: {tokenLabel(tok)}
                </option>
              ))}
            </select>
          </label>
        ) : null}
        {canDraw ? (
          <button type="button" data-testid="image-draw" aria-pressed={drawing} onClick={() => setDrawing((d) => !d)} title="Drag over the picture to draw a rectangle">
            {drawing ? 'Drawing: drag over the picture' : 'Draw a region'}
          </button>
        ) : null}
        {canDraw && brush ? (
          <button type="button" className="primary" data-testid="explain-region" disabled={busy} onClick={() => void explainRegion()}>
            Explain region
          </button>
        ) : null}
        {store && (regions.length > 0 || brush) ? (
          <button type="button" data-testid="clear-regions" disabled={busy} onClick={() => store.getState().clearRegions()}>
            Clear region{regions.length + (brush ? 1 : 0) === 1 ? '' : 's'}
          </button>
        ) : null}
        <button type="button" data-testid="export-image-png" onClick={exportPng}>
          Export PNG (image)
        </button>
      </div>
      <div
        className={`atman-image-stage${drawing ? ' drawing' : ''}`}
        style={{ width: display.width, height: display.height }}
        data-testid="image-stage"
        data-width={im.width}
        data-height={im.height}
      >
        {src ? (
          <img ref={imgRef} src={src} alt="the explained picture" width={display.width} height={display.height} data-testid="image-under-overlay" className={display.width / im.width >= 2 ? 'pixelated' : undefined} style={grey ? { filter: 'grayscale(1)' } : undefined} />
        ) : (
          <div className="atman-image-missing" data-testid="image-missing" style={{ width: display.width, height: display.height }}>
            {picked ? 'The picture changed since this result: press Explain again.' : 'The picture is not here (not in the link or not kept); the scores are drawn on a grey box.'}
          </div>
        )}
        <svg
          ref={svgRef}
          className="atman-image-overlay"
          data-testid="image-overlay"
          role="group"
          aria-label={`scores over the picture, ${grid.length} image units`}
          aria-describedby={active ? tipId : undefined}
          onPointerDown={(e) => {
            if (!drawing) return;
            e.preventDefault();
            e.currentTarget.setPointerCapture?.(e.pointerId);
            const p = pointAt(e);
            setDrag({ x0: p.x, y0: p.y, rect: null });
          }}
          onPointerMove={(e) => {
            const d = dragRef.current;
            if (!drawing || !d) return;
            const p = pointAt(e);
            setDrag({ ...d, rect: toPicture(d.x0, d.y0, p.x, p.y) });
          }}
          onPointerUp={(e) => {
            const d = dragRef.current;
            if (!drawing || !d) return;
            const p = pointAt(e);
            const rect = toPicture(d.x0, d.y0, p.x, p.y);
            setDrag(null);
            // A click without a drag draws nothing (and keeps the last rectangle).
            if (rect && rect.width * rect.height > 0 && store) store.getState().setBrush(rect);
          }}
        />
        {active && activeCell ? (
          <div className="atman-tooltip" role="tooltip" id={tipId} data-testid="image-tooltip" style={{ left: active.left, top: active.top }}>
            <div className="atman-tooltip-label">{unitLabel(activeCell.label)}</div>
            <div>
              score <strong data-testid="image-tooltip-score">{formatScore(activeCell.score, 4)}</strong>
            </div>
            <div>
              rank {activeCell.rank} of {scores.length} units ({ordinal(activeCell.imageRank)} of {cells.length} in the picture)
            </div>
            <div className="atman-muted">
              {Math.round(activeCell.bounds.width)} × {Math.round(activeCell.bounds.height)} px at ({Math.round(activeCell.bounds.left)}, {Math.round(activeCell.bounds.top)})
            </div>
          </div>
        ) : null}
      </div>
      {whole.length ? (
        <p className="atman-image-whole">
          <span className="atman-muted">whole-picture tokens: </span>
          {whole.map((c) => (
            <WholeToken key={c.unit} cell={c} scale={scale} count={scores.length} selected={c.unit === selectedUnit} onSelect={() => onSelectUnit(c.unit === selectedUnit ? null : c.unit)} />
          ))}
        </p>
      ) : null}
      {brush ? (
        <p className="atman-muted" data-testid="image-brush-info">
          Drawn: {Math.round(brush.width)} × {Math.round(brush.height)} px at ({Math.round(brush.left)}, {Math.round(brush.top)}). Explain region adds it as one more unit.
        </p>
      ) : null}
      <div className="atman-image-legend" data-testid="image-legend">
        <div className="atman-legend-bar" role="img" aria-label={`colour scale from ${formatScore(-scale.maxAbs, 3)} to ${formatScore(scale.maxAbs, 3)}`} style={{ background: legendGradient(scale.maxAbs) }} />
        <div className="atman-legend-ticks" aria-hidden="true">
          <span data-testid="image-legend-min">{formatScore(-scale.maxAbs, 3)}</span>
          <span>0</span>
          <span data-testid="image-legend-max">{formatScore(scale.maxAbs, 3)}</span>
        </div>
      </div>
    </figure>
  );
}

function WholeToken(p: { cell: OverlayCell; scale: ColourScale; count: number; selected: boolean; onSelect: () => void }): ReactNode {
  const { cell: c, scale } = p;
  return (
    <button
      type="button"
      className={`atman-image-whole-token${p.selected ? ' atman-selected' : ''}`}
      data-testid="image-whole-token"
      data-unit={c.unit}
      aria-pressed={p.selected}
      aria-label={`whole-picture token '${unitLabel(c.label)}', score ${formatScore(c.score, 3)}, rank ${c.rank} of ${p.count}`}
      style={{ backgroundColor: scale(c.score), color: scale.text(c.score) }}
      onClick={p.onSelect}
    >
      {unitLabel(c.label)} {formatScore(c.score, 3)}
    </button>
  );
}

const ordinal = (n: number): string => {
  const s = n % 100 >= 11 && n % 100 <= 13 ? 'th' : (['th', 'st', 'nd', 'rd'][n % 10] ?? 'th');
  return `${n}${s}`;
};

/** A rectangle of the shown picture's pixels in the explained picture's pixels (they differ for a reduced copy). */
function scaleToImage(r: Rect, picture: Size, image: Size): Rect {
  if (picture.width === image.width && picture.height === image.height) return r;
  const sx = image.width / picture.width;
  const sy = image.height / picture.height;
  return { left: r.left * sx, top: r.top * sy, width: r.width * sx, height: r.height * sy };
}
