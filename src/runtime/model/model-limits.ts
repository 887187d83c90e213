// The vocabulary and context length a model really has: config.json's numbers, capped by the
// tables in its graph. A config that claims more (edited, or from another export) would let token
// ids or positions past the tables through to the passes, which fail there in onnxruntime's words
// or, on a GPU, read memory beyond the table.
import { findPositionTable } from '../../graph/position-table';
import type { Graph } from '../../graph/ir/onnx-ir';
import type { EmbeddingTable } from './embeddings';
import type { ModelConfig } from './model-config';

export function limitsFromGraph(config: ModelConfig, graph: Graph, embeddings: EmbeddingTable | null): ModelConfig {
  const positions = findPositionTable(graph);
  const vocabSize = Math.min(config.vocabSize, embeddings?.rows ?? Infinity);
  const maxPositions = Math.min(config.maxPositions, positions?.rows ?? Infinity);
  return vocabSize === config.vocabSize && maxPositions === config.maxPositions ? config : { ...config, vocabSize, maxPositions };
}
