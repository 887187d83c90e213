// Where each setting's part of docs/method.md lives in the built app. The build renders that
// document as method.html beside index.html (vite-plugins/method-page.ts), with an id on every
// heading; a relative address works wherever the app is hosted, in a sub-folder too.
export const METHOD_SECTIONS = {
  sequence: 'the-sequence',
  manipulation: 'the-manipulation-every-attention-layer-every-head-every-query-row',
  conceptual: 'conceptual-suppression',
  scores: 'scores-and-signs',
  units: 'units',
  drillDown: 'drill-down-and-automatic-units',
  speed: 'what-the-speed-ups-may-and-may-not-change',
  comparison: 'comparison-methods',
  steering: 'steering',
} as const;

export type MethodSection = keyof typeof METHOD_SECTIONS;

/** The page the method is served as, relative to the app's own page. */
export const METHOD_PAGE = 'method.html';

export const methodDocHref = (section: MethodSection): string => `${METHOD_PAGE}#${METHOD_SECTIONS[section]}`;
