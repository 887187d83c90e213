// Runs a bundled Idefics3 folder with onnxruntime-node the way transformers.js does for
// Idefics3ForConditionalGeneration: the processor (AutoProcessor from the folder) expands <image>
// and makes pixel_values; vision_encoder gives image_features, embed_tokens gives inputs_embeds,
// the rows at image_token_id positions are replaced by the image features in order
// (default_merge_input_ids_with_features), and decoder_model_merged runs with an empty cache first,
// then one token at a time on its own present.* outputs.
import { basename, dirname, join, resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import { AutoProcessor, env, RawImage, type Tensor as HfTensor } from '@huggingface/transformers';
import * as ort from 'onnxruntime-node';

export interface ProcessedInputs {
  inputIds: number[];
  /** [1, num_images, 3, S, S] */
  pixelValues: { data: Float32Array; dims: number[] };
  pixelAttentionMask: { data: Uint8Array; dims: number[] };
}

export interface Answer {
  /** greedy continuation ids, the end token included when it came */
  ids: number[];
  /** decoded text of the ids before the end token, e.g. " red" */
  text: string;
  /** logits at the prompt's last position */
  firstLogits: Float32Array;
}

const toOrt = (t: HfTensor): ort.Tensor => new ort.Tensor(t.type as 'float32', t.data as Float32Array, t.dims);

export class ShapesVlm {
  private constructor(
    readonly dir: string,
    // transformers.js's processor: tokenizer + Idefics3ImageProcessor
    readonly processor: Awaited<ReturnType<typeof AutoProcessor.from_pretrained>>,
    readonly vision: ort.InferenceSession,
    readonly embed: ort.InferenceSession,
    readonly decoder: ort.InferenceSession,
    readonly imageTokenId: number,
    readonly endTokenId: number,
    readonly layers: number,
    readonly kvHeads: number,
    readonly headDim: number,
    readonly hidden: number,
  ) {}

  static async load(dir: string, opts: { threads?: number } = {}): Promise<ShapesVlm> {
    const root = resolve(dir);
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    env.localModelPath = dirname(root) + '/';
    const processor = await AutoProcessor.from_pretrained(basename(root));
    const so: ort.InferenceSession.SessionOptions = { intraOpNumThreads: opts.threads ?? 1, interOpNumThreads: 1 };
    const open = (f: string) => ort.InferenceSession.create(join(root, 'onnx', f), so);
    const [vision, embed, decoder] = await Promise.all([open('vision_encoder.onnx'), open('embed_tokens.onnx'), open('decoder_model_merged.onnx')]);
    const config = JSON.parse(readFileSync(join(root, 'config.json'), 'utf8')) as {
      image_token_id: number;
      text_config: { num_hidden_layers: number; num_key_value_heads: number; hidden_size: number; num_attention_heads: number; eos_token_id: number };
    };
    const t = config.text_config;
    return new ShapesVlm(root, processor, vision, embed, decoder, config.image_token_id, t.eos_token_id, t.num_hidden_layers, t.num_key_value_heads, t.hidden_size / t.num_attention_heads, t.hidden_size);
  }

  async release(): Promise<void> {
    await Promise.all([this.vision.release(), this.embed.release(), this.decoder.release()]);
  }

  /** The processor's outputs for one prompt (with one `<image>`) and one image. */
  async process(prompt: string, image: RawImage): Promise<ProcessedInputs> {
    const out = (await this.processor(prompt, image)) as Record<string, HfTensor>;
    const pv = out.pixel_values!;
    const pm = out.pixel_attention_mask!;
    return {
      inputIds: Array.from(out.input_ids!.data as BigInt64Array, Number),
      pixelValues: { data: pv.data as Float32Array, dims: pv.dims },
      pixelAttentionMask: { data: Uint8Array.from(pm.data as ArrayLike<number | boolean>, (x) => (x ? 1 : 0)), dims: pm.dims },
    };
  }

  /** vision_encoder: image_features [num_images, image_seq_len, hidden] */
  async imageFeatures(p: Pick<ProcessedInputs, 'pixelValues' | 'pixelAttentionMask'>): Promise<ort.Tensor> {
    const res = await this.vision.run({
      pixel_values: new ort.Tensor('float32', p.pixelValues.data, p.pixelValues.dims),
      pixel_attention_mask: new ort.Tensor('bool', p.pixelAttentionMask.data, p.pixelAttentionMask.dims),
    });
    return res.image_features!;
  }

  async embedIds(ids: number[]): Promise<Float32Array> {
    const res = await this.embed.run({ input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]) });
    return res.inputs_embeds!.data as Float32Array;
  }

  /** inputs_embeds with the image rows put in at the image token positions, in order */
  async mergedEmbeds(ids: number[], features: ort.Tensor): Promise<Float32Array> {
    const embeds = await this.embedIds(ids);
    const E = features.dims.at(-1)!;
    const feats = features.data as Float32Array;
    let row = 0;
    for (let i = 0; i < ids.length; i++) {
      if (ids[i] !== this.imageTokenId) continue;
      if ((row + 1) * E > feats.length) throw new Error('more <image> tokens than image features');
      embeds.set(feats.subarray(row * E, (row + 1) * E), i * E);
      row++;
    }
    if (row * E !== feats.length) throw new Error(`${row} <image> tokens for ${feats.length / E} image features`);
    return embeds;
  }

  /** one decoder call; `past` null: an empty cache */
  async decode(embeds: Float32Array, pastLen: number, past: Record<string, ort.Tensor> | null): Promise<{ logits: Float32Array; present: Record<string, ort.Tensor>; vocab: number }> {
    const E = this.hidden;
    const S = embeds.length / E;
    const total = pastLen + S;
    const i64 = (xs: number[], dims: number[]) => new ort.Tensor('int64', BigInt64Array.from(xs.map(BigInt)), dims);
    const feeds: Record<string, ort.Tensor> = {
      inputs_embeds: new ort.Tensor('float32', embeds, [1, S, E]),
      attention_mask: i64(Array.from({ length: total }, () => 1), [1, total]),
      position_ids: i64(Array.from({ length: S }, (_, i) => pastLen + i), [1, S]),
    };
    for (let l = 0; l < this.layers; l++) {
      for (const kv of ['key', 'value']) {
        feeds[`past_key_values.${l}.${kv}`] = past?.[`present.${l}.${kv}`] ?? new ort.Tensor('float32', new Float32Array(0), [1, this.kvHeads, 0, this.headDim]);
      }
    }
    const res = await this.decoder.run(feeds);
    const logits = res.logits!;
    const present: Record<string, ort.Tensor> = {};
    for (const [k, v] of Object.entries(res)) if (k.startsWith('present.')) present[k] = v;
    return { logits: logits.data as Float32Array, present, vocab: logits.dims.at(-1)! };
  }

  /** Greedy continuation of prompt + image, at most maxNew tokens, stopping after the end token. */
  async answer(prompt: string, image: RawImage, maxNew = 3): Promise<Answer> {
    const inputs = await this.process(prompt, image);
    return this.answerProcessed(inputs, maxNew);
  }

  async answerProcessed(inputs: ProcessedInputs, maxNew = 3): Promise<Answer> {
    const features = await this.imageFeatures(inputs);
    let embeds = await this.mergedEmbeds(inputs.inputIds, features);
    let pastLen = 0;
    let past: Record<string, ort.Tensor> | null = null;
    const ids: number[] = [];
    let firstLogits = new Float32Array(0);
    for (let step = 0; step < maxNew; step++) {
      const { logits, present, vocab } = await this.decode(embeds, pastLen, past);
      const S = logits.length / vocab;
      const last = logits.subarray((S - 1) * vocab, S * vocab);
      if (step === 0) firstLogits = Float32Array.from(last);
      let best = 0;
      for (let v = 1; v < vocab; v++) if (last[v]! > last[best]!) best = v;
      ids.push(best);
      if (best === this.endTokenId) break;
      pastLen += S;
      past = present;
      embeds = await this.embedIds([best]);
    }
    const textIds = ids.filter((x) => x !== this.endTokenId);
    const text = textIds.length ? (this.processor.tokenizer!.decode(textIds, { skip_special_tokens: false }) as string) : '';
    return { ids, text, firstLogits };
  }
}

/** RGB bytes (height x width x 3) as a transformers.js RawImage, as decoding a PNG of them gives. */
export function rawImage(rgb: Uint8Array, size: number): RawImage {
  return new RawImage(new Uint8ClampedArray(rgb), size, size, 3);
}
