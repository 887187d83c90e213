// How the command-line tools open a model: a local folder in the Hugging Face layout, or a hub id
// (owner/name) when no such folder exists, on onnxruntime-node.
import { existsSync } from 'node:fs';
import { AtmanError, isAtmanError } from '../core/errors';
import type { ControlMode } from '../core/types';
import { AtmanModel } from '../runtime/atman/atman-model';
import { ATTENTION_PREFERENCES, type AttentionPreference } from '../runtime/atman/attention-path';
import { parseDtypeRequest } from '../runtime/model/dtypes';
import { hubSource } from '../runtime/sources/hub-source';
import { isHubId } from '../runtime/sources/model-source';
import { NODE_PROVIDERS, type NodeProvider, createNodeBackend } from '../runtime/backends/node-backend';
import { folderSource } from '../runtime/sources/folder-source';

export interface CliModelOptions {
  /** as typed on the command line: auto (default: chosen by what the repository has), fp32, fp16, q8, q4, q4f16 */
  dtype?: string;
  /** the hub's origin; default $HF_ENDPOINT, else https://huggingface.co */
  hubEndpoint?: string;
  /** branch, tag or commit of a hub repository (default main) */
  revision?: string;
  mode?: ControlMode;
  layers?: number[] | null;
  selfCheck?: boolean;
  /** as typed: auto (default), fused or decomposed (see src/runtime/atman/attention-path.ts) */
  attention?: string;
  /** as typed: cpu (default) or cuda (onnxruntime-node's CUDA execution provider, where installed) */
  backend?: string;
}

export async function loadCliModel(spec: string, opts: CliModelOptions = {}): Promise<AtmanModel> {
  // Checked before any download, so a missing provider fails fast.
  const backend = createNodeBackend({ provider: parseBackend(opts.backend) });
  const endpoint = opts.hubEndpoint ?? process.env.HF_ENDPOINT;
  const source =
    existsSync(spec) || !isHubId(spec)
      ? folderSource(spec)
      : hubSource(spec, { ...(endpoint ? { endpoint } : {}), ...(opts.revision ? { revision: opts.revision } : {}) });
  return AtmanModel.load(source, backend, {
    dtype: opts.dtype ? parseDtypeRequest(opts.dtype) : 'auto',
    mode: opts.mode ?? 'multiplicative',
    layers: opts.layers ?? null,
    selfCheck: opts.selfCheck ?? true,
    attention: parseAttention(opts.attention),
  });
}

export function parseBackend(s: string | undefined): NodeProvider {
  if (s === undefined) return 'cpu';
  if (!(NODE_PROVIDERS as readonly string[]).includes(s)) {
    throw new AtmanError('BAD_SETTING', `--backend takes ${NODE_PROVIDERS.join(' or ')}, not "${s}".`);
  }
  return s as NodeProvider;
}

function parseAttention(s: string | undefined): AttentionPreference {
  if (s === undefined) return 'auto';
  if (!(ATTENTION_PREFERENCES as readonly string[]).includes(s)) {
    throw new AtmanError('BAD_SETTING', `--attention takes ${ATTENTION_PREFERENCES.join(', ')}, not "${s}".`);
  }
  return s as AttentionPreference;
}

/** Runs a tool's main when this file is the one Node started; typed errors print as `error [CODE]: sentence`. */
export function runWhenMain(moduleUrl: string, file: string, main: (argv: string[]) => Promise<number>): void {
  if (moduleUrl !== `file://${process.argv[1]}` && !process.argv[1]?.endsWith(file)) return;
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      const msg = isAtmanError(e) ? `error [${e.code}]: ${e.message}` : `error: ${(e as Error).message}`;
      process.stderr.write(`${msg}\n`);
      process.exit(1);
    },
  );
}

/**
 * --chat / --no-chat: the prompt as the user's turn of the model's chat template (the default when
 * the model has one) or as raw text.
 */
export function chatFlag(values: { chat?: boolean; 'no-chat'?: boolean }): boolean | undefined {
  if (values.chat && values['no-chat']) throw new AtmanError('BAD_SETTING', 'Give --chat or --no-chat, not both.');
  return values.chat ? true : values['no-chat'] ? false : undefined;
}
