// The public API of the AtMan core: plain data in, plain data out.

export * from './types';
export * from './errors';
export * from './units';
export * from './conceptual';
export * from './scores';
export * from './settings';
export * from './plan';
export * from './image-regions';
export * from './image-units';
export * from './rollout';
export * from './faithfulness';
export * from './presets';
export * from './gradient-attribution';
