// onnxruntime-node (native CPU). It takes external weights only from files next
// to the model (symlinks out of the folder are refused), so the rewritten graph
// is written to a temporary folder beside hard links to the original weight
// files, or copies where the folder is on another file system. The original
// files are never rewritten. (Its `externalData` session option is no way around this: the Node
// binding takes only in-memory buffers there, which would mean reading every weight file whole.)
import { existsSync } from 'node:fs';
import { copyFile, link, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import * as ort from 'onnxruntime-node';
import { AtmanError } from '../../core/errors';
import type { ExternalFile, OrtBackend } from './backend';

/** onnxruntime-node's execution providers this engine can ask for. */
export const NODE_PROVIDERS = ['cpu', 'cuda'] as const;
export type NodeProvider = (typeof NODE_PROVIDERS)[number];

export function createNodeBackend(opts: { threads?: number; provider?: NodeProvider } = {}): OrtBackend {
  const provider = opts.provider ?? 'cpu';
  if (provider === 'cuda') requireCudaProvider();
  const sessionOptions: ort.InferenceSession.SessionOptions = {
    // CPU stays listed after CUDA: nodes the CUDA provider lacks kernels for run there.
    executionProviders: provider === 'cuda' ? ['cuda', 'cpu'] : ['cpu'],
    graphOptimizationLevel: 'all',
    ...(opts.threads ? { intraOpNumThreads: opts.threads } : {}),
  };
  const create = async (what: string | Uint8Array) => {
    try {
      return await ort.InferenceSession.create(what as string, sessionOptions);
    } catch (e) {
      if (provider !== 'cuda') throw e;
      throw new AtmanError(
        'BACKEND_UNAVAILABLE',
        `onnxruntime-node could not start its CUDA execution provider (${String((e as Error).message ?? e).split('\n')[0]}). Check that an NVIDIA driver, CUDA 12 and cuDNN 9 are installed, or use --backend cpu.`,
      );
    }
  };
  return {
    name: provider,
    device: `onnxruntime-node ${ort.env.versions.common ?? ''}`.trim(),
    supportsFp16: true,
    readsFilesByPath: true,
    collectGarbage,
    Tensor: ort.Tensor,
    async createSession(model: Uint8Array, external: readonly ExternalFile[]) {
      if (external.length === 0) return create(model);
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
        return await create(modelPath);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}

/**
 * The CUDA provider ships apart from onnxruntime-node (its install step downloads it next to the
 * binding unless told to skip): without that library a session would fail deep inside onnxruntime.
 */
export function cudaProviderPath(): string | null {
  const binding = dirname(createRequire(import.meta.url).resolve('onnxruntime-node'));
  const dir = join(binding, '..', 'bin', 'napi-v6', process.platform, process.arch);
  const file = join(dir, 'libonnxruntime_providers_cuda.so');
  return process.platform === 'linux' && existsSync(file) ? file : null;
}

function requireCudaProvider(): void {
  const listed = ort.listSupportedBackends().some((b) => b.name === 'cuda');
  if (listed && cudaProviderPath()) return;
  const why = !listed
    ? `this build of onnxruntime-node (${process.platform} ${process.arch}) has no CUDA execution provider; it exists for Linux x64 only`
    : 'the CUDA execution provider of onnxruntime-node is not installed (it was skipped when the package was installed)';
  throw new AtmanError(
    'BACKEND_UNAVAILABLE',
    `--backend cuda: ${why}. On a machine with an NVIDIA GPU, CUDA 12 and cuDNN 9, install it with \`ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node\`, or use --backend cpu.`,
  );
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
