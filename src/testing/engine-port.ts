// The engine as the state actions see it, run in Node on a real model with onnxruntime-node: the
// same calls the worker makes (explain or a baseline, faithfulness, steering, cancel between
// passes), without the worker. For the state tests only.
import type { EnginePort } from '../state/actions';
import type { ModelInfo } from '../protocol/engine-api';
import { AtmanModel } from '../runtime/atman/atman-model';
import { explainComparison, releaseComparisonSessions } from '../runtime/compare/comparison-methods';
import { explain } from '../runtime/atman/explain';
import { planUnits } from '../runtime/atman/prepare';
import { generateGreedy } from '../runtime/atman/generate';
import { measureFaithfulness } from '../runtime/compare/faithfulness';
import { folderSource } from '../runtime/sources/folder-source';
import { createNodeBackend } from '../runtime/backends/node-backend';
import { steer } from '../runtime/atman/steer';
import { chatFor } from '../runtime/model/chat-template';

export interface NodeEnginePort extends EnginePort {
  model: AtmanModel;
  calls: string[];
  release(): Promise<void>;
}

export async function nodeEnginePort(dir: string, mode: 'multiplicative' | 'log-additive' = 'multiplicative'): Promise<NodeEnginePort> {
  const model = await AtmanModel.load(folderSource(dir), createNodeBackend({ threads: 1 }), { mode });
  const calls: string[] = [];
  let running: AbortController | null = null;
  const withSignal = async <T>(run: (signal: AbortSignal) => Promise<T>): Promise<T> => {
    const ctl = (running = new AbortController());
    try {
      return await run(ctl.signal);
    } finally {
      if (running === ctl) running = null;
    }
  };
  const info: ModelInfo = {
    id: model.id,
    dtype: model.dtype,
    file: model.onnxFile,
    dtypeReason: model.variant.reason,
    variants: model.variant.variants.map((v) => ({ dtype: v.dtype, bytes: v.bytes })),
    backend: model.backend.name,
    device: model.backend.device,
    modelType: model.config.modelType,
    numLayers: model.config.numLayers,
    numHeads: model.config.numHeads,
    vocabSize: model.config.vocabSize,
    maxPositions: model.config.maxPositions,
    controlledLayers: [...model.current.report.controlledLayers],
    layout: model.layout,
    acceptsImages: false,
    chatTemplate: chatFor(model, true) !== null,
    mode: model.current.mode,
    attentionSites: model.current.report.sites.length,
    selfCheck: null,
  };
  return {
    model,
    calls,
    probe: async () => ({ webgpu: false, adapter: null, shaderF16: false, reason: 'node' }),
    load: async () => (calls.push('load'), info),
    explain: (req, onProgress) => {
      calls.push(`explain:${req.method ?? 'atman'}`);
      return withSignal((signal) => {
        const { method, attention, image: _i, imageRegions: _r, ...rest } = req;
        const common = { ...rest, signal, ...(onProgress ? { onProgress } : {}) };
        return method && method !== 'atman' ? explainComparison(model, { ...common, method, ...(attention ? { attention } : {}) }) : explain(model, common);
      });
    },
    generate: (prompt, n, _image, options) => withSignal((signal) => generateGreedy(model, prompt, n, signal, undefined, options ?? {})),
    faithfulness: (req, onProgress) => {
      calls.push('faithfulness');
      return withSignal((signal) => measureFaithfulness(model, req.explanation, { ...req.options, signal, ...(onProgress ? { onProgress } : {}) }));
    },
    steer: (req, onStep) => {
      calls.push('steer');
      return withSignal((signal) => steer(model, { ...req, signal, ...(onStep ? { onStep } : {}) }));
    },
    plan: (req) => planUnits(model, { prompt: req.prompt, target: req.target, ...(req.settings ? { settings: req.settings } : {}) }),
    cachedModels: async () => [],
    clearCache: async () => {},
    cancel: () => {
      calls.push('cancel');
      running?.abort();
    },
    async release() {
      await releaseComparisonSessions(model);
      await model.release();
    },
  };
}
