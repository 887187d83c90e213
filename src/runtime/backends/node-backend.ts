// onnxruntime-node (native CPU). It takes external weights only from files next
// to the model (symlinks out of the folder are refused), so the rewritten graph
// is written to a temporary folder beside hard links to the original weight
// files, or copies where the folder is on another file system. The original
// files are never rewritten.
import { copyFile, link, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import * as ort from 'onnxruntime-node';
import type { ExternalFile, OrtBackend } from './backend';

export function createNodeBackend(opts: { threads?: number } = {}): OrtBackend {
  const sessionOptions: ort.InferenceSession.SessionOptions = {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    ...(opts.threads ? { intraOpNumThreads: opts.threads } : {}),
  };
  return {
    name: 'cpu',
    device: `onnxruntime-node ${ort.env.versions.common ?? ''}`.trim(),
    supportsFp16: true,
    readsFilesByPath: true,
    collectGarbage,
    Tensor: ort.Tensor,
    async createSession(model: Uint8Array, external: readonly ExternalFile[]) {
      if (external.length === 0) return ort.InferenceSession.create(model, sessionOptions);
      const dir = await mkdtemp(join(tmpdir(), 'atman-'));
      try {
        const modelPath = join(dir, 'model.onnx');
        await writeFile(modelPath, model);
        for (const f of external) {
          const target = join(dir, f.path);
          await mkdir(dirname(target), { recursive: true });
          const linked = f.diskPath ? await link(f.diskPath, target).then(() => true, () => false) : false;
          if (!linked && f.diskPath) await copyFile(f.diskPath, target);
          else if (!linked) await writeFile(target, f.data);
        }
        return await ort.InferenceSession.create(modelPath, sessionOptions);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}

let gc: (() => void) | null | undefined;

/**
 * A full garbage collection. A model file read into memory is freed only when the collector runs,
 * and nothing makes it run while onnxruntime allocates outside the script's heap, so the engine
 * asks for one before creating a session. Node exposes gc() only behind a flag; set at run time,
 * the flag applies to a new context.
 */
function collectGarbage(): void {
  if (gc === undefined) {
    const exposed = (globalThis as { gc?: () => void }).gc;
    try {
      if (!exposed) setFlagsFromString('--expose-gc');
      gc = exposed ?? (runInNewContext('gc') as () => void);
    } catch {
      gc = null;
    }
  }
  gc?.();
}
