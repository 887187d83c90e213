#!/usr/bin/python3
"""Trains the AtMan vision-language demo model: a tiny Idefics3 that answers questions about shapes.

    /usr/bin/python3 scripts/demo-vlm/train.py [--build /tmp/atman-demo-vlm-build] [--time-limit 1080]

Needs Debian's python3-torch (torch 1.13) and python3-numpy; CPU only. Reads task.json (next to
this file) and BUILD/vocab.json (written by make-tokenizer.ts), writes BUILD/weights.bin
(float32, little endian, Hugging Face Idefics3ForConditionalGeneration state-dict names and
nn.Linear [out, in] layout), BUILD/manifest.json (shapes, offsets, dims, accuracy, reference
inputs and outputs) and BUILD/scene-check.json (scenes and hashes of their pixels, which
export.ts compares with task.ts). The scene generator and rasteriser replay the mulberry32 stream
of scripts/fixtures/prng.ts exactly as task.ts does, so one seed gives the same images in both.

The model mirrors scripts/fixtures/idefics3.ts op for op: Conv patch embedding + learned
positions, pre-LN ViT layers (LayerNorm eps 1e-6, GELU tanh), post-LN, Idefics3's pixel shuffle
(scale 2) and a bias-free projection; a Llama decoder (RMSNorm, rotate-half rotary, SiLU-gated MLP).
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # torch's own threads do the parallel work

import argparse
import hashlib
import json
import math
import random
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))


def _text_demo():
    """scripts/demo-model/train.py as a module (its main() does not run on import)"""
    import importlib.util

    spec = importlib.util.spec_from_file_location("text_demo_train", os.path.join(HERE, "..", "demo-model", "train.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


Mulberry32 = _text_demo().Mulberry32  # the text demo's bit-exact port of scripts/fixtures/prng.ts

TRAIN_SEED = 1
EVAL_SEED = 2  # evaluate.ts uses the same seed: the same held-out scenes
SCENE_CHECK_SEED = 3
TORCH_SEED = 20240611

# ----------------------------------------------------------------------------- task


class SceneGenerator:
    """task.ts SceneGenerator, draw for draw."""

    def __init__(self, seed, task):
        self.rng = Mulberry32(seed)
        self.task = task


    def place(self, n):
        t = self.task
        g = t["gap"]

        def apart(a, b):
            return a[0] + a[2] + g <= b[0] or b[0] + b[2] + g <= a[0] or a[1] + a[2] + g <= b[1] or b[1] + b[2] + g <= a[1]

        while True:
            boxes = []
            for i in range(n):
                for _ in range(50):
                    size = t["minSize"] + self.rng.int(t["maxSize"] - t["minSize"] + 1)
                    span = t["imageSize"] - 2 * t["border"] - size + 1
                    left = t["border"] + self.rng.int(span)
                    top = t["border"] + self.rng.int(span)
                    box = (left, top, size)
                    if all(apart(b, box) for b in boxes):
                        boxes.append(box)
                        break
                if len(boxes) <= i:
                    break
            if len(boxes) == n:
                return boxes

    def next(self):
        t = self.task
        n = t["minShapes"] + self.rng.int(t["maxShapes"] - t["minShapes"] + 1)
        kinds = self.rng.sample(t["shapes"], n)
        colours = self.rng.sample(list(t["colours"].keys()), n)
        bg = t["background"]
        background = [bg["min"] + self.rng.int(bg["max"] - bg["min"] + 1) for _ in range(3)]
        boxes = self.place(n)
        asked = self.rng.int(n)
        kind = "colour" if self.rng.next() < t["colourQuestionProbability"] else "shape"
        shapes = [{"shape": kinds[i], "colour": colours[i], "left": b[0], "top": b[1], "size": b[2]} for i, b in enumerate(boxes)]
        return {"shapes": shapes, "background": background, "asked": asked, "kind": kind, **question_about(t, shapes[asked], kind)}


def question_about(task, shape, kind):
    if kind == "colour":
        return {"question": task["colourQuestion"].replace("{shape}", shape["shape"]), "target": " " + shape["colour"]}
    return {"question": task["shapeQuestion"].replace("{colour}", shape["colour"]), "target": " " + shape["shape"]}


def shape_masks(task, scene, scale=1):
    """one boolean [H, W] mask per shape, as task.ts renderScene tests pixel centres; first shape wins"""
    W = task["imageSize"] * scale
    c = (np.arange(W, dtype=np.float64) + 0.5) / scale
    u = c[None, :]
    v = c[:, None]
    filled = np.zeros((W, W), dtype=bool)
    masks = []
    for s in scene["shapes"]:
        left, top, size = s["left"], s["top"], s["size"]
        rows = (v >= top) & (v < top + size)
        cx = left + size / 2
        if s["shape"] == "square":
            m = rows & (u >= left) & (u < left + size)
        elif s["shape"] == "circle":
            r = size / 2
            dx = u - cx
            dy = v - (top + r)
            m = rows & (dx * dx + dy * dy <= r * r)
        else:
            m = rows & (np.abs(u - cx) <= (v - top) * 0.5)
        m = m & ~filled
        filled |= m
        masks.append(m)
    return masks


def render(task, scene, scale=1):
    """task.ts renderScene: uint8 [H, W, 3]"""
    W = task["imageSize"] * scale
    img = np.empty((W, W, 3), dtype=np.uint8)
    img[:] = np.array(scene["background"], dtype=np.uint8)
    for s, m in zip(scene["shapes"], shape_masks(task, scene, scale)):
        img[m] = np.array(task["colours"][s["colour"]], dtype=np.uint8)
    return img


def render_smooth(task, scene, k):
    """Rendered at k times the size and box-filtered back: the soft edges a resized larger image has."""
    big = render(task, scene, k).astype(np.float64)
    S = task["imageSize"]
    return np.floor(big.reshape(S, k, S, k, 3).mean(axis=(1, 3)) + 0.5).astype(np.uint8)


# transformers.js: pixel * (1/255) stored as float32, then (x - 0.5) / 0.5 stored as float32
PIXEL_LUT = ((np.arange(256, dtype=np.float64) * (1 / 255)).astype(np.float32).astype(np.float64) - 0.5) / 0.5
PIXEL_LUT = PIXEL_LUT.astype(np.float32)


def pixels(img):
    """uint8 [H, W, 3] -> the processor's pixel_values for one frame, float32 [3, H, W]"""
    return PIXEL_LUT[img].transpose(2, 0, 1)


class WordTokenizer:
    """Word-level lookup; equals tokenizer.json on the task's text (export.ts checks)."""

    def __init__(self, vocab, task):
        self.words = vocab["words"]
        self.special = vocab["special"]
        self.eos = vocab["eosId"]
        self.vocab_size = vocab["vocabSize"]
        self.pad = vocab["special"][task["endToken"]]
        self.image = self.special[task["imageToken"]]
        self.fake = self.special["<fake_token_around_image>"]
        self.glob = self.special["<global-img>"]

    def encode(self, text):
        import re

        pieces = re.findall(r" ?[A-Za-z]+|[?:]", text)
        assert "".join(pieces) == text, f"text outside the task alphabet: {text!r}"
        return [self.words[p] for p in pieces]

    def prompt_ids(self, task, question, image_seq_len):
        """What the Idefics3 processor gives for promptFor(question) with one unsplit image."""
        image = [self.fake, self.glob] + [self.image] * image_seq_len + [self.fake]
        return image + self.encode(question + task["answerStem"])


# ----------------------------------------------------------------------------- model


class VisionLayer(nn.Module):
    def __init__(self, e, heads, inter, eps):
        super().__init__()
        self.heads = heads
        self.layer_norm1 = nn.LayerNorm(e, eps=eps)
        self.q_proj = nn.Linear(e, e)
        self.k_proj = nn.Linear(e, e)
        self.v_proj = nn.Linear(e, e)
        self.out_proj = nn.Linear(e, e)
        self.layer_norm2 = nn.LayerNorm(e, eps=eps)
        self.fc1 = nn.Linear(e, inter)
        self.fc2 = nn.Linear(inter, e)

    def forward(self, x):
        B, S, E = x.shape
        H = self.heads
        D = E // H
        a = self.layer_norm1(x)
        q = self.q_proj(a).view(B, S, H, D).transpose(1, 2)
        k = self.k_proj(a).view(B, S, H, D).transpose(1, 2)
        v = self.v_proj(a).view(B, S, H, D).transpose(1, 2)
        p = ((q @ k.transpose(-1, -2)) * (D**-0.5)).softmax(-1)
        x = x + self.out_proj((p @ v).transpose(1, 2).reshape(B, S, E))
        return x + self.fc2(F.gelu(self.fc1(self.layer_norm2(x)), approximate="tanh"))


def pixel_shuffle(x, scale):
    """Idefics3Connector.pixel_shuffle"""
    bsz, seq, embed = x.shape
    h = w = int(seq**0.5)
    x = x.view(bsz, h, w, embed)
    x = x.view(bsz, h, w // scale, embed * scale)
    x = x.permute(0, 2, 1, 3)
    x = x.reshape(bsz, w // scale, h // scale, embed * scale * scale)
    x = x.permute(0, 2, 1, 3)
    return x.reshape(bsz, seq // (scale * scale), embed * scale * scale)


# The Llama pieces of the text demo, which mirrors scripts/fixtures/llama.ts the same way.
RMSNorm = _text_demo().RMSNorm
rotate_half = _text_demo().rotate_half


class TextLayer(nn.Module):
    def __init__(self, e, heads, kv_heads, inter, eps):
        super().__init__()
        self.heads = heads
        self.kv_heads = kv_heads
        D = e // heads
        self.input_layernorm = RMSNorm(e, eps)
        self.q_proj = nn.Linear(e, heads * D, bias=False)
        self.k_proj = nn.Linear(e, kv_heads * D, bias=False)
        self.v_proj = nn.Linear(e, kv_heads * D, bias=False)
        self.o_proj = nn.Linear(heads * D, e, bias=False)
        self.post_attention_layernorm = RMSNorm(e, eps)
        self.gate_proj = nn.Linear(e, inter, bias=False)
        self.up_proj = nn.Linear(e, inter, bias=False)
        self.down_proj = nn.Linear(inter, e, bias=False)

    def forward(self, x, cos, sin, mask):
        B, S, E = x.shape
        H, KVH = self.heads, self.kv_heads
        D = E // H
        a = self.input_layernorm(x)
        q = self.q_proj(a).view(B, S, H, D).transpose(1, 2)
        k = self.k_proj(a).view(B, S, KVH, D).transpose(1, 2)
        v = self.v_proj(a).view(B, S, KVH, D).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if KVH != H:
            k = k.repeat_interleave(H // KVH, dim=1)
            v = v.repeat_interleave(H // KVH, dim=1)
        scores = (q @ k.transpose(-1, -2)) * (1 / math.sqrt(D)) + mask
        x = x + self.o_proj((scores.softmax(-1) @ v).transpose(1, 2).reshape(B, S, E))
        m = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(m)) * self.up_proj(m))


class TinyIdefics3(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.d = d
        Ev = d["visionHidden"]
        n_patches = (d["imageSize"] // d["patchSize"]) ** 2
        self.patch_embedding = nn.Conv2d(3, Ev, kernel_size=d["patchSize"], stride=d["patchSize"])
        self.position_embedding = nn.Embedding(n_patches, Ev)
        self.vision_layers = nn.ModuleList([VisionLayer(Ev, d["visionHeads"], d["visionIntermediate"], d["layerNormEps"]) for _ in range(d["visionLayers"])])
        self.post_layernorm = nn.LayerNorm(Ev, eps=d["layerNormEps"])
        E = d["textHidden"]
        self.proj = nn.Linear(Ev * d["scaleFactor"] ** 2, E, bias=False)
        self.embed_tokens = nn.Embedding(d["vocab"], E)
        self.text_layers = nn.ModuleList([TextLayer(E, d["textHeads"], d["textKvHeads"], d["textIntermediate"], d["rmsNormEps"]) for _ in range(d["textLayers"])])
        self.norm = RMSNorm(E, d["rmsNormEps"])
        self.lm_head = nn.Linear(E, d["vocab"], bias=False)
        D = E // d["textHeads"]
        self.register_buffer("inv_freq", 1.0 / (d["ropeTheta"] ** (torch.arange(0, D, 2, dtype=torch.float32) / D)))
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                std = 0.02
                if name.endswith(("out_proj.weight", "fc2.weight", "o_proj.weight", "down_proj.weight")):
                    std = 0.02 / math.sqrt(2 * max(d["visionLayers"], d["textLayers"]))
                nn.init.normal_(p, 0.0, std)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def image_features(self, pixel_values):
        """[N, 3, H, W] -> [N, image_seq_len, textHidden]"""
        x = self.patch_embedding(pixel_values).flatten(2).transpose(1, 2)
        x = x + self.position_embedding.weight[None]
        for layer in self.vision_layers:
            x = layer(x)
        x = self.post_layernorm(x)
        return self.proj(pixel_shuffle(x, self.d["scaleFactor"]))

    def decode(self, embeds):
        B, S, _ = embeds.shape
        pos = torch.arange(S, dtype=torch.float32)
        freqs = pos[:, None] * self.inv_freq[None]
        emb = torch.cat([freqs, freqs], dim=-1)
        cos, sin = emb.cos()[None, None], emb.sin()[None, None]
        mask = torch.full((S, S), torch.finfo(torch.float32).min).triu(1)[None, None]
        x = embeds
        for layer in self.text_layers:
            x = layer(x, cos, sin, mask)
        return self.lm_head(self.norm(x))

    def forward(self, ids, pixel_values, image_of_row, image_token):
        """ids [R, S]; pixel_values [N, 3, H, W]; image_of_row [R]: which image each row shows"""
        feats = self.image_features(pixel_values)
        embeds = self.embed_tokens(ids)
        is_image = ids == image_token
        embeds = embeds.masked_scatter(is_image[..., None], feats[image_of_row].to(embeds.dtype))
        return self.decode(embeds)

    def hf_state(self):
        """Parameters under transformers' Idefics3ForConditionalGeneration names, float32 numpy."""
        out = {
            "model.vision_model.embeddings.patch_embedding.weight": self.patch_embedding.weight,
            "model.vision_model.embeddings.patch_embedding.bias": self.patch_embedding.bias,
            "model.vision_model.embeddings.position_embedding.weight": self.position_embedding.weight,
        }
        for i, l in enumerate(self.vision_layers):
            p = f"model.vision_model.encoder.layers.{i}"
            for n in ["layer_norm1", "layer_norm2"]:
                out[f"{p}.{n}.weight"] = getattr(l, n).weight
                out[f"{p}.{n}.bias"] = getattr(l, n).bias
            for n in ["q_proj", "k_proj", "v_proj", "out_proj"]:
                out[f"{p}.self_attn.{n}.weight"] = getattr(l, n).weight
                out[f"{p}.self_attn.{n}.bias"] = getattr(l, n).bias
            for n in ["fc1", "fc2"]:
                out[f"{p}.mlp.{n}.weight"] = getattr(l, n).weight
                out[f"{p}.mlp.{n}.bias"] = getattr(l, n).bias
        out["model.vision_model.post_layernorm.weight"] = self.post_layernorm.weight
        out["model.vision_model.post_layernorm.bias"] = self.post_layernorm.bias
        out["model.connector.modality_projection.proj.weight"] = self.proj.weight
        out["model.text_model.embed_tokens.weight"] = self.embed_tokens.weight
        for i, l in enumerate(self.text_layers):
            p = f"model.text_model.layers.{i}"
            out[f"{p}.input_layernorm.weight"] = l.input_layernorm.weight
            out[f"{p}.post_attention_layernorm.weight"] = l.post_attention_layernorm.weight
            for n in ["q_proj", "k_proj", "v_proj", "o_proj"]:
                out[f"{p}.self_attn.{n}.weight"] = getattr(l, n).weight
            for n in ["gate_proj", "up_proj", "down_proj"]:
                out[f"{p}.mlp.{n}.weight"] = getattr(l, n).weight
        out["model.text_model.norm.weight"] = self.norm.weight
        out["lm_head.weight"] = self.lm_head.weight
        return {k: v.detach().cpu().numpy().astype("<f4") for k, v in out.items()}


# ----------------------------------------------------------------------------- data


def all_questions(task, scene):
    """every question the scene answers: each shape's colour and each colour's shape"""
    out = []
    for s in scene["shapes"]:
        out.append(question_about(task, s, "colour"))
        out.append(question_about(task, s, "shape"))
    return out


def make_rows(task, tok, scenes, image_seq_len, extra, rng):
    """Token rows: each scene's own question, plus up to `extra` more about the same image."""
    rows = []
    for i, sc in enumerate(scenes):
        qs = [{"question": sc["question"], "target": sc["target"]}]
        if extra and rng is not None:
            others = [q for q in all_questions(task, sc) if q["question"] != sc["question"]]
            rng.shuffle(others)
            qs += others[:extra]
        for q in qs:
            prompt = tok.prompt_ids(task, q["question"], image_seq_len)
            answer = tok.encode(q["target"]) + [tok.eos]
            rows.append((i, prompt, answer))
    S = max(len(p) + len(a) for _, p, a in rows) - 1
    ids = torch.full((len(rows), S), tok.pad, dtype=torch.long)
    labels = torch.full((len(rows), S), -100, dtype=torch.long)
    for r, (_, prompt, answer) in enumerate(rows):
        seq = prompt + answer
        ids[r, : len(seq) - 1] = torch.tensor(seq[:-1])
        for j, a in enumerate(answer):
            labels[r, len(prompt) - 1 + j] = a
    return ids, labels, torch.tensor([i for i, _, _ in rows])


@torch.no_grad()
def accuracy(model, task, tok, scenes, images, image_seq_len, batch=250):
    """(answer token right, answer and then the end token right) at the prompt's end, teacher-forced"""
    model.eval()
    right = both = 0
    for b in range(0, len(scenes), batch):
        sc = scenes[b : b + batch]
        px = torch.from_numpy(np.stack([pixels(im) for im in images[b : b + batch]]))
        ids, labels, img = make_rows(task, tok, sc, image_seq_len, 0, None)
        pred = model(ids, px, img, tok.image).argmax(-1)
        mask = labels != -100
        first = mask & (mask.cumsum(1) == 1)
        ok_first = pred[first] == labels[first]
        ok_all = ((pred == labels) | ~mask).all(1)
        right += int(ok_first.sum())
        both += int(ok_all.sum())
    model.train()
    return right / len(scenes), both / len(scenes)


# ----------------------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="/tmp/atman-demo-vlm-build")
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--batch", type=int, default=48, help="scenes per step")
    ap.add_argument("--extra", type=int, default=2, help="more questions per scene about the same image")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--vision-hidden", type=int, default=64)
    ap.add_argument("--vision-layers", type=int, default=2)
    ap.add_argument("--vision-heads", type=int, default=4)
    ap.add_argument("--vision-intermediate", type=int, default=128)
    ap.add_argument("--text-hidden", type=int, default=64)
    ap.add_argument("--text-layers", type=int, default=3)
    ap.add_argument("--text-heads", type=int, default=4)
    ap.add_argument("--text-kv-heads", type=int, default=4)
    ap.add_argument("--text-intermediate", type=int, default=128)
    ap.add_argument("--smooth", type=float, default=0.4, help="share of training images rendered larger and box-filtered down (soft edges)")
    ap.add_argument("--curriculum", type=int, default=1, help="1: one shape first, then 1-2, then the task's 2-3")
    ap.add_argument("--eval-scenes", type=int, default=1000)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--stop-at", type=float, default=0.99, help="stop once the held-out answer accuracy (hard and soft edges) reaches this")
    ap.add_argument("--time-limit", type=float, default=1080, help="seconds; the lr schedule and curriculum follow max(step/steps, time/limit); 0: no limit")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    torch.manual_seed(TORCH_SEED)
    torch.set_num_threads(args.threads)
    rng = random.Random(TORCH_SEED)
    np_rng = np.random.default_rng(TORCH_SEED)

    task = json.load(open(os.path.join(HERE, "task.json")))
    vocab = json.load(open(os.path.join(args.build, "vocab.json")))
    tok = WordTokenizer(vocab, task)
    dims = {
        "imageSize": task["imageSize"],
        "patchSize": 8,
        "scaleFactor": 2,
        "visionHidden": args.vision_hidden,
        "visionLayers": args.vision_layers,
        "visionHeads": args.vision_heads,
        "visionIntermediate": args.vision_intermediate,
        "layerNormEps": 1e-6,
        "textHidden": args.text_hidden,
        "textLayers": args.text_layers,
        "textHeads": args.text_heads,
        "textKvHeads": args.text_kv_heads,
        "textIntermediate": args.text_intermediate,
        "rmsNormEps": 1e-5,
        "ropeTheta": 10000.0,
        "vocab": tok.vocab_size,
        "maxPositions": vocab["maxPositions"],
    }
    image_seq_len = (task["imageSize"] // dims["patchSize"] // dims["scaleFactor"]) ** 2
    dims["imageSeqLen"] = image_seq_len

    # scenes and pixel hashes for export.ts to compare with task.ts
    check = SceneGenerator(SCENE_CHECK_SEED, task)
    checks = []
    for _ in range(200):
        sc = check.next()
        checks.append({**sc, "sha256": {str(k): hashlib.sha256(render(task, sc, k).tobytes()).hexdigest() for k in (1, 4)}, "promptIds": tok.prompt_ids(task, sc["question"], image_seq_len), "targetIds": tok.encode(sc["target"])})
    json.dump({"seed": SCENE_CHECK_SEED, "scenes": checks}, open(os.path.join(args.build, "scene-check.json"), "w"))

    eval_gen = SceneGenerator(EVAL_SEED, task)
    eval_scenes = [eval_gen.next() for _ in range(args.eval_scenes)]
    eval_hard = [render(task, s) for s in eval_scenes]
    eval_soft = [render_smooth(task, s, 4) for s in eval_scenes]
    monitor = slice(0, 500)

    model = TinyIdefics3(dims)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {json.dumps(dims)}; {n_params} parameters", flush=True)

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.98))

    t0 = time.time()

    def progress(step):
        p = step / args.steps
        if args.time_limit:
            p = max(p, (time.time() - t0) / args.time_limit)
        return min(p, 1.0)

    def lr_at(step, p):
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        return args.lr * (0.03 + 0.97 * 0.5 * (1 + math.cos(math.pi * p)))

    def curriculum(p):
        if not args.curriculum or p >= 0.2:
            return task["minShapes"], task["maxShapes"]
        if p < 0.06:
            return 1, 1  # one shape: the colour and kind words get tied to what the image shows
        return 1, 2

    gen = SceneGenerator(TRAIN_SEED, dict(task))
    running = None
    steps_done = 0
    history = []
    for step in range(args.steps):
        p = progress(step)
        if p >= 1.0:
            print(f"stopping at step {step}: time limit {args.time_limit:.0f}s", flush=True)
            break
        lr = lr_at(step, p)
        for g in opt.param_groups:
            g["lr"] = lr
        gen.task["minShapes"], gen.task["maxShapes"] = curriculum(p)
        scenes = [gen.next() for _ in range(args.batch)]
        imgs = [render_smooth(task, s, int(np_rng.choice([2, 4]))) if np_rng.random() < args.smooth else render(task, s) for s in scenes]
        px = torch.from_numpy(np.stack([pixels(im) for im in imgs]))
        ids, labels, img = make_rows(task, tok, scenes, image_seq_len, args.extra, rng)
        logits = model(ids, px, img, tok.image)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        running = loss.item() if running is None else 0.95 * running + 0.05 * loss.item()
        steps_done = step + 1
        if step % args.eval_every == 0 or step == args.steps - 1:
            hard, _ = accuracy(model, task, tok, eval_scenes[monitor], eval_hard[monitor], image_seq_len)
            soft, _ = accuracy(model, task, tok, eval_scenes[monitor], eval_soft[monitor], image_seq_len)
            lo, hi = curriculum(p)
            history.append({"step": step, "seconds": round(time.time() - t0), "loss": round(running, 4), "heldOutHard": hard, "heldOutSoft": soft})
            print(f"step {step:5d}  loss {running:.4f}  held-out answer acc {hard:.3f} (soft edges {soft:.3f})  lr {lr:.2e}  shapes {lo}-{hi}  {time.time() - t0:.0f}s", flush=True)
            if step > 0 and min(hard, soft) >= args.stop_at and lo == task["minShapes"] and hi == task["maxShapes"]:
                print(f"stopping early: {min(hard, soft):.3f} >= {args.stop_at}", flush=True)
                break
    train_seconds = time.time() - t0

    hard, hard_end = accuracy(model, task, tok, eval_scenes, eval_hard, image_seq_len)
    soft, soft_end = accuracy(model, task, tok, eval_scenes, eval_soft, image_seq_len)
    print(f"held-out answer accuracy ({len(eval_scenes)} scenes, seed {EVAL_SEED}): {hard:.4f} (answer then end token {hard_end:.4f}); soft edges {soft:.4f} ({soft_end:.4f})")
    print(f"training time: {train_seconds:.0f}s, {steps_done} steps")

    state = model.hf_state()
    manifest = {"tensors": [], "dims": dims, "training": {}, "reference": []}
    offset = 0
    with open(os.path.join(args.build, "weights.bin"), "wb") as f:
        for name, arr in state.items():
            f.write(arr.tobytes())
            manifest["tensors"].append({"name": name, "shape": list(arr.shape), "offset": offset})
            offset += arr.nbytes
    manifest["training"] = {
        "steps": steps_done,
        "plannedSteps": args.steps,
        "timeLimit": args.time_limit,
        "batchScenes": args.batch,
        "extraQuestions": args.extra,
        "smooth": args.smooth,
        "curriculum": args.curriculum,
        "lr": args.lr,
        "warmup": args.warmup,
        "seconds": round(train_seconds),
        "threads": args.threads,
        "torch": torch.__version__,
        "parameters": n_params,
        "heldOutScenes": len(eval_scenes),
        "heldOutSeed": EVAL_SEED,
        "heldOutAccuracy": hard,
        "heldOutAccuracyWithEnd": hard_end,
        "heldOutAccuracySoftEdges": soft,
        "history": history,
    }
    # reference inputs and outputs for export.ts to compare with onnxruntime
    model.eval()
    with torch.no_grad():
        for sc, im in list(zip(eval_scenes, eval_hard))[:3]:
            px = torch.from_numpy(pixels(im)[None])
            ids = tok.prompt_ids(task, sc["question"], image_seq_len)
            feats = model.image_features(px)[0]
            logits = model(torch.tensor([ids]), px, torch.tensor([0]), tok.image)[0]
            manifest["reference"].append(
                {"scene": sc, "ids": ids, "imageFeatures": feats.flatten().tolist(), "logits": logits.flatten().tolist()}
            )
    json.dump(manifest, open(os.path.join(args.build, "manifest.json"), "w"), indent=1)
    print(f"wrote {args.build}/weights.bin ({offset} bytes), manifest.json, scene-check.json")


if __name__ == "__main__":
    main()
