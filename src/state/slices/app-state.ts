// The shape of the app's state: every slice's fields and actions, and the types they are made of.
// They live here, apart from the slices that implement them, so that a slice can read the whole
// state (`get()`) without importing the store, and the store can import the slices: no import
// circle between store.ts, the slices and the share-link codec.
import type { StoreApi } from 'zustand/vanilla';
import type { ServedModel } from '../served-models';
import type { Rect } from '../../core/image-regions';
import type { ControlMode, ExplainSettings } from '../../core/types';
import type {
  AttentionOptions,
  BackendChoice,
  CachedModel,
  Explanation,
  ExplanationMethod,
  GpuProbe,
  LoadProgress,
  ModelInfo,
  SteerResult,
  UnitPlan,
  VariantListing,
} from '../../protocol/engine-api';
import type { FaithfulnessSummary } from '../faithfulness-summary';
import type { ModelChoice } from '../model-catalog';

type SteerRun = SteerResult['steered'];

export interface Example {
  prompt: string;
  target: string;
  evidence?: string;
}

export interface ModelSlice {
  modelChoice: ModelChoice;
  backend: BackendChoice;
  /** the files of a picked/dropped folder; memory only (never persisted or shared) */
  folderFiles: Array<{ path: string; file: Blob }> | null;
  probe: GpuProbe | null;
  /** what the worker holds now, and the key (choice + backend) it was loaded for */
  loaded: { key: string; info: ModelInfo } | null;
  loadProgress: LoadProgress | null;
  cached: CachedModel[];
  /** a model named by a shared link that needs the user's consent to download */
  pendingModel: ModelChoice | null;
  /** whether the test models are served here (dev and test servers only) */
  fixturesAvailable: boolean;
  /** hub models this app's own server offers (a workshop); empty elsewhere */
  servedModels: ServedModel[];
  /** examples shipped with the chosen bundled model */
  examples: Example[];
  /** the chosen hub model's variants, listed before any download (key: variantsKey) */
  variants: { key: string; listing: VariantListing | null; error: string | null } | null;

  chooseModel(c: ModelChoice, files?: Array<{ path: string; file: Blob }>): void;
  setBackend(b: BackendChoice): void;
}

export type RunStatus = 'idle' | 'loading' | 'explaining' | 'generating' | 'cancelling';

export interface RunError {
  code: string;
  message: string;
}

export interface Generation {
  /** the prompt the tokens continue */
  base: string;
  text: string;
  /** token spans in `text` */
  tokens: Array<{ text: string; start: number; end: number }>;
  /** selected chips [first, last], inclusive */
  selection: [number, number];
}

export interface RunSlice {
  prompt: string;
  target: string;
  settings: ExplainSettings;
  /** the engine's savings, on by default; off only to compare (not saved) */
  /** coupledNumerics: how 8-bit models whose rows are coupled run (exact, or the faster dequantized variant) */
  speed: { prefixReuse: boolean; scoreHead: boolean; coupledNumerics: 'exact' | 'dequantized' };
  setSpeed(patch: Partial<RunSlice['speed']>): void;
  generateCount: number;
  generation: Generation | null;
  status: RunStatus;
  /** the page is still putting its first state in place (saved state, a link, the demo example): nothing to run yet */
  starting: boolean;
  /** runs (load, explain, generate) finished so far, failed ones included: lets tests wait for "this run is over" */
  finishedRuns: number;
  progress: { done: number; total: number; elapsedSeconds: number } | null;
  startedAt: number | null;
  explanation: Explanation | null;
  /** the model choice the explanation was computed with (modelKey) */
  explanationModelKey: string | null;
  /** a shared link's result, shown without recomputing */
  explanationFromLink: boolean;
  error: RunError | null;
  /** what a shared link or saved state could not restore, in words */
  notices: string[];
  plan: UnitPlan | null;

  setPrompt(p: string): void;
  setTarget(t: string): void;
  updateSettings(patch: Partial<ExplainSettings>): void;
  setGenerateCount(n: number): void;
  selectGenerated(first: number, last: number): void;
  setError(e: RunError | null): void;
  dismissNotices(): void;
}

export interface ViewSlice {
  selectedUnit: number | null;
  selectedTarget: number | null;
  /** the result unit under the pointer or keyboard focus (for its drag-along) */
  hoveredUnit: number | null;
  selectUnit(u: number | null): void;
  selectTarget(t: number | null): void;
  hover(unit: number | null): void;
}

/** The methods AtMan is compared with: forward-only and gradient methods (the engine's ComparisonMethod). */
export type CompareMethod = Exclude<ExplanationMethod, 'atman'>;

export type AttentionQuery = NonNullable<AttentionOptions['query']>;

export interface AttentionChoice {
  /** null = all */
  layers: number[] | null;
  heads: number[] | null;
  query: AttentionQuery;
}

/** 'shared': one colour scale over both sides; 'own': each side normalised to its own largest |score|. */
export type CompareScale = 'shared' | 'own';

export type AnalysisTask = 'compare' | 'faithfulness' | 'steer';

export type FaithfulnessSide = 'primary' | 'comparison';

export interface CompareSlice {
  compareMethod: CompareMethod;
  compareAttention: AttentionChoice;
  compareScale: CompareScale;
  /** integrated gradients' Gauss–Legendre steps for the next comparison (NUMBER_RULES.steps) */
  compareSteps: number;
  /** the second method's result */
  comparison: Explanation | null;
  compareError: RunError | null;
  /** the last measurement of each side; shown only while it belongs to that side's result */
  faithfulness: Record<FaithfulnessSide, FaithfulnessSummary | null>;
  /** what the running run is for, beyond a plain explain or generate (not saved) */
  task: AnalysisTask | null;
  taskSide: FaithfulnessSide | null;

  setCompareMethod(m: CompareMethod): void;
  setCompareAttention(patch: Partial<AttentionChoice>): void;
  setCompareScale(s: CompareScale): void;
  /** ignored unless NUMBER_RULES.steps allows it */
  setCompareSteps(n: number): void;
  clearComparison(): void;
}

export interface SteerUnitDraft {
  /** [start, end) in the prompt, as picked */
  span?: [number, number];
  /** every occurrence of this text in the prompt, as typed */
  text?: string;
  /** the text the unit stands for (for a span: the prompt's text there when it was picked) */
  label: string;
  /** 0 = ignore, below 1 weaken, 1 = unchanged, above 1 amplify */
  factor: number;
}

export interface SteerTokenRecord {
  text: string;
  /** this run's probability of its token */
  p: number;
  /** the probability this run gave the other run's token at this step; null once the other run stopped */
  other: number | null;
  /** the end-of-sequence token (not part of the text) */
  eos?: true;
}

export interface SteerRunRecord {
  text: string;
  stop: SteerRun['stop'];
  tokens: SteerTokenRecord[];
}

export interface SteerRecord {
  prompt: string;
  mode: ControlMode;
  maxNewTokens: number;
  units: Array<{ label: string; factor: number }>;
  steered: SteerRunRecord;
  unsteered: SteerRunRecord;
  seconds: number;
}

export interface SteerSlice {
  steerUnits: SteerUnitDraft[];
  steerMaxNewTokens: number;
  steerResult: SteerRecord | null;
  /** tokens as they arrive during a run (not saved) */
  steerLive: { steered: SteerTokenRecord[]; unsteered: SteerTokenRecord[] } | null;

  /** adds a part, or removes it when the same span or text is already there (a click toggles) */
  toggleSteerUnit(u: Omit<SteerUnitDraft, 'factor'> & { factor?: number }): void;
  setSteerFactor(index: number, factor: number): void;
  removeSteerUnit(index: number): void;
  setSteerMaxNewTokens(n: number): void;
}

/** The formats a link may carry inline: ones every browser decodes. */
export const LINK_IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/webp', 'image/gif'] as const;

export type LinkImageType = (typeof LINK_IMAGE_TYPES)[number];

/** A copy of the picture small enough for a share link. */
export interface LinkImage {
  type: LinkImageType;
  /** the bytes, base64url */
  data: string;
  width: number;
  height: number;
  /** true: the very bytes the user gave; false: a smaller re-encoding */
  exact: boolean;
}

export type ImageOrigin = 'file' | 'drop' | 'paste' | 'url' | 'example' | 'link' | 'saved';

export interface PickedImage {
  blob: Blob;
  name: string;
  /** pixels, once the page could decode it (null: not decodable here; the engine says why on Explain) */
  width: number | null;
  height: number | null;
  origin: ImageOrigin;
  /** where it was fetched from (an http(s) address or a path on this site), when it was */
  url?: string;
  /** changes whenever the picture does: tells a result computed on another picture */
  key: string;
  /** for share links: exact bytes or a reduced copy; null when none could be made; absent while being made */
  linkCopy?: LinkImage | null;
  /** base64 of the bytes, kept across reloads when small enough; null when too large */
  saved?: string | null;
}

/** Which frames of a split image the overlay shows: the tiles, or the global (whole-image) frame. */
export type FrameChoice = 'tiles' | 'global';

export interface ImageView {
  /** opacity of the score colours over the picture, 0..1 */
  opacity: number;
  frames: FrameChoice;
}

export interface ImageSlice {
  image: PickedImage | null;
  /** an image address to fetch: from a link or saved state; outside addresses wait for a click */
  imagePending: { url: string; name: string; ask: boolean } | null;
  /** the address being fetched, while it is */
  imageLoading: string | null;
  imageView: ImageView;
  /** the rectangle being drawn, in original pixels, not yet explained */
  brush: Rect | null;
  /** rectangles sent with every explanation, in original pixels */
  imageRegions: Rect[];
  /** the picture key the shown explanation was computed on */
  explanationImageKey: string | null;

  setImage(img: PickedImage | null): void;
  /** fills in what the page learnt about the current picture (size, copies), if it is still the same one */
  completeImage(key: string, patch: Partial<Pick<PickedImage, 'width' | 'height' | 'linkCopy' | 'saved'>>): void;
  setImageView(patch: Partial<ImageView>): void;
  setBrush(r: Rect | null): void;
  addRegion(r: Rect): void;
  clearRegions(): void;
}

export type AppState = ModelSlice & RunSlice & ViewSlice & CompareSlice & SteerSlice & ImageSlice;

export type AppStore = StoreApi<AppState>;

// ---------------------------------------------------------------- what a share link carries

export interface SharedState {
  model: ModelChoice;
  backend: BackendChoice;
  prompt: string;
  target: string;
  settings: ExplainSettings;
  /** the computed result, when the link carries it */
  explanation: Explanation | null;
  /** the picture, inline (small) or by address; absent: the link has none */
  image?: SharedImage;
  imageView?: ImageView;
  /** drawn rectangles, in pixels of the picture the link carries */
  imageRegions?: Rect[];
  /** the second method's result, next to `explanation` */
  comparison?: Explanation | null;
  /** faithfulness measurements, rounded; each names the result it measured */
  faithfulness?: SharedFaithfulness;
  /** steered parts of the prompt, and the last steered generation */
  steer?: SharedSteer;
  /** how the comparison was shown: its colour scale and attention options */
  compareView?: SharedCompareView;
}

export interface SharedCompareView {
  scale: CompareScale;
  attention: AttentionChoice;
  /** integrated gradients' steps, written next to an integrated-gradients comparison */
  steps?: number;
}

export interface SharedFaithfulness {
  primary: FaithfulnessSummary | null;
  comparison: FaithfulnessSummary | null;
}

export interface SharedSteer {
  units: SteerUnitDraft[];
  maxNewTokens: number;
  result: SteerRecord | null;
}

export type SharedImage =
  /** data: the bytes, base64url */
  | { kind: 'data'; type: LinkImageType; data: string; width: number; height: number }
  | { kind: 'url'; url: string };

export interface DecodedShare {
  /** the fields the link set (all validated); absent = not in the link, or dropped */
  state: Partial<SharedState>;
  problems: string[];
}
