// The public API of the AtMan core: plain data in, plain data out.

export * from './types';
export * from './errors';
export * from './units';
export * from './conceptual';
export * from './scores';
export * from './settings';
export * from './plan';
export * from './memory-budget';
export * from './image-regions';
export * from './image-units';
export * from './rollout';
export * from './faithfulness';
export * from './presets';
export * from './numbers';
export * from './drill-down';
export * from './auto-units';
export * from './gradient-attribution';
export * from './chefer-encoder-decoder';
