// Plain data shared by the AtMan core, the runtime and the UI. No ORT, no DOM.

export type ControlMode = 'multiplicative' | 'log-additive';
export type TargetGranularity = 'complete' | 'token';
export type PostProcess = 'none' | 'absolute' | 'square';
/** How a unit that covers only part of a token treats that token (production API `control_token_overlap`). */
export type TokenOverlap = 'complete' | 'partial';

export type Granularity =
  | { kind: 'token' }
  | { kind: 'word' }
  | { kind: 'sentence' }
  | { kind: 'paragraph' }
  | { kind: 'delimiter'; delimiter: string }
  /** character spans [start, end) of the prompt text, each one unit */
  | { kind: 'chunks'; chunks: Array<[number, number]> };

export type TokenRole = 'prompt' | 'target' | 'template';

export interface TokenInfo {
  id: number;
  /** the token's text as it appears in its own text (prompt or target) */
  text: string;
  /**
   * character span in its own text; empty (start === end) for added special tokens. A chat
   * template's own tokens have no characters in the prompt: their empty span sits where they
   * stand relative to the user's text (0 before it, its length after it).
   */
  start: number;
  end: number;
  /** 'template': written by the model's chat template around the user's prompt (never a unit) */
  role: TokenRole;
  special: boolean;
}

export interface Unit {
  label: string;
  /** sequence positions suppressed together */
  positions: number[];
  /** per-position share of the factor in (0, 1]; 1 = the full factor. Absent = all 1. */
  coverage?: number[];
  /** where the unit comes from: prompt text, an added special token, or an earlier target token */
  source?: 'prompt' | 'special' | 'target';
  /** character span [start, end) in the unit's own text (prompt, or target for target units); absent for special tokens */
  span?: [number, number];
}

export interface ExplainSettings {
  mode: ControlMode;
  /** phi for suppressed columns: < 1 suppresses, > 1 amplifies, 0 allowed */
  factor: number;
  /** conceptual-suppression threshold in [0, 1], or null for off */
  kappa: number | null;
  granularity: Granularity;
  targetGranularity: TargetGranularity;
  postprocess: PostProcess;
  /** decoder layers that carry the control; null = all */
  layers: number[] | null;
  tokenOverlap: TokenOverlap;
  /**
   * Put the prompt inside the model's chat template as the user's message (the target is then the
   * assistant's reply) when the model has one; false reads the prompt as raw text.
   */
  chat: boolean;
  /**
   * Drill-down (absent = off): explain at the granularity above, then only inside its `top`
   * strongest units at the next finer level, and so on down to tokens (docs/method.md, "Drill-down").
   */
  drillDown?: DrillDownSettings;
}

export interface DrillDownSettings {
  /** at most how many of the strongest units of each level are refined at the next level */
  top: number;
  /**
   * a unit besides the strongest is refined only if its score is at least this fraction of the
   * strongest score (0 to 1; absent: DEFAULT_DRILL_SHARE, 0.4; 0: always the top ones)
   */
  share?: number;
}

/** Settings that may be absent (off); every other key is in DEFAULT_SETTINGS. */
export const OPTIONAL_SETTING_KEYS: readonly string[] = ['drillDown'];

export const DEFAULT_SETTINGS: ExplainSettings = {
  mode: 'multiplicative',
  factor: 0.1,
  kappa: 0.7,
  granularity: { kind: 'token' },
  targetGranularity: 'complete',
  postprocess: 'none',
  layers: null,
  tokenOverlap: 'complete',
  chat: true,
};
