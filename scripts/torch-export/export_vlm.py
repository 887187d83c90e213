"""Graphs of vision-language model parts as PyTorch's own ONNX exporter writes them, from the real
Hugging Face `transformers` classes with tiny random configs (nothing is downloaded).

They test the attention rewrite on output this project did not generate: the decoder of a
VisionEncoderDecoder captioner (GPT-2 with cross-attention, eager and SDPA), a Llama decoder that
takes `inputs_embeds` (the text model of Idefics3 / SmolVLM), and a ViT encoder. `reference.json`
holds torch's own outputs on fixed inputs, so a test can check onnxruntime against torch.

    python3 scripts/torch-export/export_vlm.py OUTDIR

Needs torch and transformers (the committed files were written with the versions in
reference.json); the result goes to fixtures/torch-export-vlm/.
"""

import json
import os
import sys
import traceback

import torch
import transformers
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, ViTConfig, ViTModel

OUT = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("OUT", "/tmp/torch-export-vlm")
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(20240607)
reference = {"torch": torch.__version__, "transformers": transformers.__version__, "models": {}}


def make(cls, config, attn):
    try:
        return cls._from_config(config, attn_implementation=attn).eval()
    except Exception:  # older or newer transformers spell it differently
        config._attn_implementation = attn
        return cls(config).eval()


def export(name, module, args, input_names, output_names, dynamic_axes, dynamo=False):
    path = os.path.join(OUT, f"{name}.onnx")
    try:
        with torch.no_grad():
            expected = module(*args)
            # opset 18 for the torch.export-based exporter: its conversion down to 17 leaves Split's
            # opset-18 num_outputs attribute behind, which onnxruntime rejects.
            kwargs = dict(input_names=input_names, output_names=output_names, opset_version=18 if dynamo else 17)
            if dynamo:
                # Batch and sequence axes dynamic where torch.export can prove it; static shapes otherwise.
                auto = tuple({0: torch.export.Dim.AUTO, 1: torch.export.Dim.AUTO} for _ in args)
                try:
                    torch.onnx.export(module, args, path, dynamo=True, external_data=False, dynamic_shapes=auto, **kwargs)
                except Exception:
                    print(f"{name}: dynamic shapes failed, exporting static shapes")
                    torch.onnx.export(module, args, path, dynamo=True, external_data=False, **kwargs)
            else:
                torch.onnx.export(module, args, path, dynamic_axes=dynamic_axes, dynamo=False, **kwargs)
        reference["models"][name] = {
            "inputs": {n: {"dims": list(a.shape), "data": a.flatten().tolist()} for n, a in zip(input_names, args)},
            "output": {"name": output_names[0], "dims": list(expected.shape), "data": [round(float(x), 6) for x in expected.flatten().tolist()]},
        }
        print(f"ok {name}: {os.path.getsize(path)} bytes")
    except Exception:
        print(f"FAILED {name}")
        traceback.print_exc()


class CrossDecoder(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, input_ids, encoder_hidden_states):
        return self.m(input_ids=input_ids, encoder_hidden_states=encoder_hidden_states, use_cache=False).logits


class EmbedsDecoder(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, inputs_embeds, attention_mask, position_ids):
        return self.m(inputs_embeds=inputs_embeds, attention_mask=attention_mask, position_ids=position_ids, use_cache=False).logits


class Encoder(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, pixel_values):
        return self.m(pixel_values=pixel_values).last_hidden_state


gpt2 = GPT2Config(vocab_size=64, n_positions=32, n_embd=32, n_layer=2, n_head=2, add_cross_attention=True)
ids = torch.tensor([[5, 17, 3, 40, 22, 9]])
enc = torch.randn(1, 7, 32) * 0.5
seq_axes = {"input_ids": {0: "batch_size", 1: "sequence_length"}, "encoder_hidden_states": {0: "batch_size", 1: "encoder_sequence_length"}, "logits": {0: "batch_size", 1: "sequence_length"}}
# transformers 5's masking code does not trace with the TorchScript exporter (aten::diff), so the
# decoders go through the torch.export-based exporter, torch's default since 2.9.
for attn in ["eager", "sdpa"]:
    m = make(GPT2LMHeadModel, gpt2, attn)
    export(f"gpt2_cross_{attn}", CrossDecoder(m), (ids, enc), ["input_ids", "encoder_hidden_states"], ["logits"], None, dynamo=True)

llama = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
embeds = torch.randn(1, 6, 32) * 0.5
mask = torch.ones(1, 6, dtype=torch.long)
pos = torch.arange(6).unsqueeze(0)
emb_axes = {"inputs_embeds": {0: "batch_size", 1: "sequence_length"}, "attention_mask": {0: "batch_size", 1: "total_sequence_length"}, "position_ids": {0: "batch_size", 1: "sequence_length"}, "logits": {0: "batch_size", 1: "sequence_length"}}
export("llama_embeds_eager", EmbedsDecoder(make(LlamaForCausalLM, llama, "eager")), (embeds, mask, pos), ["inputs_embeds", "attention_mask", "position_ids"], ["logits"], emb_axes)
export("llama_embeds_sdpa", EmbedsDecoder(make(LlamaForCausalLM, llama, "sdpa")), (embeds, mask, pos), ["inputs_embeds", "attention_mask", "position_ids"], ["logits"], None, dynamo=True)

vit = ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
pixels = torch.randn(1, 3, 32, 32)
try:
    vit_model = ViTModel(vit, add_pooling_layer=False).eval()
    export("vit_encoder", Encoder(vit_model), (pixels,), ["pixel_values"], ["last_hidden_state"], {"pixel_values": {0: "batch_size"}, "last_hidden_state": {0: "batch_size"}})
except Exception:
    traceback.print_exc()

with open(os.path.join(OUT, "reference.json"), "w") as f:
    json.dump(reference, f)
print("versions", reference["torch"], reference["transformers"])
