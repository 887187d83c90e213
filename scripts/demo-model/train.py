#!/usr/bin/python3
"""Trains the AtMan demo model: a tiny Llama that answers questions about a list of facts.

    /usr/bin/python3 scripts/demo-model/train.py [--build /tmp/atman-demo-build] [--time-limit S]

Needs Debian's python3-torch (torch 1.13) and python3-numpy; CPU only. Reads task.json (next to
this file) and BUILD/vocab.json (written by make-tokenizer.ts), writes BUILD/weights.bin
(float32, little endian; --arch llama: the initializer names and MatMul [in, out] layout of
scripts/fixtures/llama.ts; --arch gpt2, the earlier model: Hugging Face GPT-2 state-dict names
and Conv1D [in, out] layout),
BUILD/manifest.json (shapes, offsets, dims, accuracy, reference logits) and
BUILD/token-check.json (documents with this script's token ids, which export.ts compares with
transformers.js). The document generator replays the mulberry32 stream of
scripts/fixtures/prng.ts exactly as task.ts does, so one seed gives the same documents in both.
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # torch's own threads do the parallel work

import argparse
import json
import math
import random
import re
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
TRAIN_SEED = 1
EVAL_SEED = 2  # evaluate.ts uses the same seed: the same held-out documents
TOKEN_CHECK_SEED = 3
TORCH_SEED = 20240607

# ----------------------------------------------------------------------------- task


class Mulberry32:
    """scripts/fixtures/prng.ts Prng.next(), bit for bit."""

    def __init__(self, seed):
        self.state = seed & 0xFFFFFFFF

    def next(self):
        self.state = (self.state + 0x6D2B79F5) & 0xFFFFFFFF
        t = self.state
        t = ((t ^ (t >> 15)) * (t | 1)) & 0xFFFFFFFF
        t = (t ^ ((t + (((t ^ (t >> 7)) * (t | 61)) & 0xFFFFFFFF)) & 0xFFFFFFFF)) & 0xFFFFFFFF
        return ((t ^ (t >> 14)) & 0xFFFFFFFF) / 4294967296.0

    def int(self, n):
        return math.floor(self.next() * n)

    def sample(self, items, k):
        """k distinct items, by a partial Fisher-Yates shuffle of a copy (Prng.sample)"""
        a = list(items)
        for i in range(k):
            j = i + self.int(len(a) - i)
            a[i], a[j] = a[j], a[i]
        return a[:k]


def fill(template, name, value=""):
    return template.replace("{name}", name).replace("{value}", value)


class TaskGenerator:
    """task.ts TaskGenerator, draw for draw."""

    def __init__(self, seed, task):
        self.rng = Mulberry32(seed)
        self.task = task


    def next(self):
        t = self.task
        n_facts = t["minFacts"] + self.rng.int(t["maxFacts"] - t["minFacts"] + 1)
        names = self.rng.sample(t["names"], n_facts)
        n_kinds = len(t["kinds"])
        if self.rng.next() < t["sameKindProbability"]:
            k = self.rng.int(n_kinds)
            kinds = [k] * n_facts
        else:
            kinds = [self.rng.int(n_kinds) for _ in names]
        pools = []
        for i, kind in enumerate(t["kinds"]):
            count = kinds.count(i)
            pools.append(self.rng.sample(kind["values"], count) if count > 0 else [])
        values = [pools[k].pop(0) for k in kinds]
        q = self.rng.int(n_facts)
        facts = [fill(t["kinds"][kinds[i]]["fact"], n, values[i]) for i, n in enumerate(names)]
        question = fill(t["kinds"][kinds[q]]["question"], names[q])
        return {
            "prompt": " ".join(facts + [question]),
            "target": " " + values[q],
            "evidence": facts[q],
            "evidenceIndex": q,
            # for extra training questions (not in task.ts; the text above is what both share)
            "questions": [fill(t["kinds"][k]["question"], n) for n, k in zip(names, kinds)],
            "answers": [" " + v for v in values],
        }


WORD_RE = re.compile(r" ?[A-Za-z]+|[.?]")


class WordTokenizer:
    """Word-level lookup; equals the byte-level BPE of tokenizer.json on task text (export.ts checks)."""

    def __init__(self, vocab):
        self.words = vocab["words"]
        self.eos = vocab["eosId"]
        self.vocab_size = vocab["vocabSize"]
        self.period = self.words["."]
        self.qmark = self.words["?"]
        self.name_of = {}

    def set_names(self, names):
        for i, n in enumerate(names):
            self.name_of[self.words[n]] = i
            self.name_of[self.words[" " + n]] = i

    def encode(self, text):
        pieces = WORD_RE.findall(text)
        assert "".join(pieces) == text, f"text outside the task alphabet: {text!r}"
        return [self.words[p] for p in pieces]


# ----------------------------------------------------------------------------- model


class Block(nn.Module):
    def __init__(self, e, h):
        super().__init__()
        self.h = h
        self.ln_1 = nn.LayerNorm(e, eps=1e-5)
        self.ln_2 = nn.LayerNorm(e, eps=1e-5)
        # Conv1D layout [in, out] like transformers' GPT-2
        self.c_attn_w = nn.Parameter(torch.empty(e, 3 * e))
        self.c_attn_b = nn.Parameter(torch.zeros(3 * e))
        self.attn_proj_w = nn.Parameter(torch.empty(e, e))
        self.attn_proj_b = nn.Parameter(torch.zeros(e))
        self.c_fc_w = nn.Parameter(torch.empty(e, 4 * e))
        self.c_fc_b = nn.Parameter(torch.zeros(4 * e))
        self.mlp_proj_w = nn.Parameter(torch.empty(4 * e, e))
        self.mlp_proj_b = nn.Parameter(torch.zeros(e))

    def forward(self, x, causal):
        B, S, E = x.shape
        H = self.h
        D = E // H
        a = self.ln_1(x)
        q, k, v = (a @ self.c_attn_w + self.c_attn_b).split(E, dim=2)
        q = q.view(B, S, H, D).transpose(1, 2)
        k = k.view(B, S, H, D).transpose(1, 2)
        v = v.view(B, S, H, D).transpose(1, 2)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(D)
        scores = scores.masked_fill(~causal[:S, :S], torch.finfo(scores.dtype).min)
        ctx = scores.softmax(-1) @ v
        ctx = ctx.transpose(1, 2).reshape(B, S, E)
        x = x + ctx @ self.attn_proj_w + self.attn_proj_b
        m = self.ln_2(x) @ self.c_fc_w + self.c_fc_b
        m = F.gelu(m, approximate="tanh")  # gelu_new
        return x + m @ self.mlp_proj_w + self.mlp_proj_b


class Gpt2(nn.Module):
    def __init__(self, vocab, n_layer, n_head, n_embd, n_positions):
        super().__init__()
        self.wte = nn.Parameter(torch.empty(vocab, n_embd))
        self.wpe = nn.Parameter(torch.empty(n_positions, n_embd))
        self.blocks = nn.ModuleList([Block(n_embd, n_head) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd, eps=1e-5)
        self.register_buffer("causal", torch.tril(torch.ones(n_positions, n_positions, dtype=torch.bool)))
        for name, p in self.named_parameters():
            if name.endswith("_w") or name in ("wte", "wpe"):
                std = 0.02
                if "proj_w" in name:
                    std = 0.02 / math.sqrt(2 * n_layer)
                nn.init.normal_(p, 0.0, std)

    def forward(self, ids):
        S = ids.shape[1]
        x = self.wte[ids] + self.wpe[:S]
        for b in self.blocks:
            x = b(x, self.causal)
        return self.ln_f(x) @ self.wte.t()

    def hf_state(self):
        """Parameters under transformers' GPT2LMHeadModel names, as float32 numpy arrays."""
        out = {"transformer.wte.weight": self.wte, "transformer.wpe.weight": self.wpe}
        for i, b in enumerate(self.blocks):
            p = f"transformer.h.{i}"
            out.update(
                {
                    f"{p}.ln_1.weight": b.ln_1.weight,
                    f"{p}.ln_1.bias": b.ln_1.bias,
                    f"{p}.attn.c_attn.weight": b.c_attn_w,
                    f"{p}.attn.c_attn.bias": b.c_attn_b,
                    f"{p}.attn.c_proj.weight": b.attn_proj_w,
                    f"{p}.attn.c_proj.bias": b.attn_proj_b,
                    f"{p}.ln_2.weight": b.ln_2.weight,
                    f"{p}.ln_2.bias": b.ln_2.bias,
                    f"{p}.mlp.c_fc.weight": b.c_fc_w,
                    f"{p}.mlp.c_fc.bias": b.c_fc_b,
                    f"{p}.mlp.c_proj.weight": b.mlp_proj_w,
                    f"{p}.mlp.c_proj.bias": b.mlp_proj_b,
                }
            )
        out["transformer.ln_f.weight"] = self.ln_f.weight
        out["transformer.ln_f.bias"] = self.ln_f.bias
        return {k: v.detach().cpu().numpy().astype("<f4") for k, v in out.items()}


class RMSNorm(nn.Module):
    def __init__(self, e, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(e))

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def rotate_half(x):
    d = x.shape[-1] // 2
    return torch.cat([-x[..., d:], x[..., :d]], dim=-1)


class LlamaLayer(nn.Module):
    """scripts/fixtures/llama.ts ('eager') op for op; weights in its MatMul [in, out] layout."""

    def __init__(self, e, h, inter, eps):
        super().__init__()
        self.h = h
        self.input_layernorm = RMSNorm(e, eps)
        self.q_w = nn.Parameter(torch.empty(e, e))
        self.k_w = nn.Parameter(torch.empty(e, e))
        self.v_w = nn.Parameter(torch.empty(e, e))
        self.o_proj_w = nn.Parameter(torch.empty(e, e))
        self.post_attention_layernorm = RMSNorm(e, eps)
        self.gate_w = nn.Parameter(torch.empty(e, inter))
        self.up_w = nn.Parameter(torch.empty(e, inter))
        self.down_proj_w = nn.Parameter(torch.empty(inter, e))

    def forward(self, x, cos, sin, mask):
        B, S, E = x.shape
        H = self.h
        D = E // H
        a = self.input_layernorm(x)
        q = (a @ self.q_w).view(B, S, H, D).transpose(1, 2)
        k = (a @ self.k_w).view(B, S, H, D).transpose(1, 2)
        v = (a @ self.v_w).view(B, S, H, D).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        scores = (q @ k.transpose(-1, -2)) * (1 / math.sqrt(D)) + mask
        x = x + (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, S, E) @ self.o_proj_w
        m = self.post_attention_layernorm(x)
        return x + (F.silu(m @ self.gate_w) * (m @ self.up_w)) @ self.down_proj_w


class Llama(nn.Module):
    """Rotary positions make "the name three tokens back" the same relation at every position."""

    def __init__(self, vocab, n_layer, n_head, n_embd, n_positions, inter, rope_theta=10000.0, eps=1e-5):
        super().__init__()
        self.embed = nn.Parameter(torch.empty(vocab, n_embd))
        self.layers = nn.ModuleList([LlamaLayer(n_embd, n_head, inter, eps) for _ in range(n_layer)])
        self.norm = RMSNorm(n_embd, eps)
        self.lm_head_w = nn.Parameter(torch.empty(n_embd, vocab))
        D = n_embd // n_head
        inv = 1.0 / (rope_theta ** (torch.arange(0, D, 2, dtype=torch.float32) / D))
        freqs = torch.arange(n_positions, dtype=torch.float32)[:, None] * inv[None]
        emb = torch.cat([freqs, freqs], dim=-1)
        self.register_buffer("cos", emb.cos()[None, None])
        self.register_buffer("sin", emb.sin()[None, None])
        self.register_buffer("mask", torch.full((n_positions, n_positions), torch.finfo(torch.float32).min).triu(1)[None, None])
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                std = 0.02 / math.sqrt(2 * n_layer) if name.endswith(("o_proj_w", "down_proj_w")) else 0.02
                nn.init.normal_(p, 0.0, std)

    def forward(self, ids, hidden_after=0):
        """logits; with hidden_after=n also the residual stream after the first n layers"""
        S = ids.shape[1]
        x = self.embed[ids]
        cos, sin, mask = self.cos[:, :, :S], self.sin[:, :, :S], self.mask[:, :, :S, :S]
        hidden = None
        for i, layer in enumerate(self.layers):
            x = layer(x, cos, sin, mask)
            if i + 1 == hidden_after:
                hidden = x
        logits = self.norm(x) @ self.lm_head_w
        return (logits, hidden) if hidden_after else logits

    def hf_state(self):
        """Parameters under the initializer names of scripts/fixtures/llama.ts, float32 numpy."""
        out = {"model.embed_tokens.weight": self.embed}
        for i, l in enumerate(self.layers):
            p = f"model.layers.{i}"
            out.update(
                {
                    f"{p}.input_layernorm.weight": l.input_layernorm.weight,
                    f"{p}.self_attn.q_proj.MatMul.weight": l.q_w,
                    f"{p}.self_attn.k_proj.MatMul.weight": l.k_w,
                    f"{p}.self_attn.v_proj.MatMul.weight": l.v_w,
                    f"{p}.self_attn.o_proj.MatMul.weight": l.o_proj_w,
                    f"{p}.post_attention_layernorm.weight": l.post_attention_layernorm.weight,
                    f"{p}.mlp.gate_proj.MatMul.weight": l.gate_w,
                    f"{p}.mlp.up_proj.MatMul.weight": l.up_w,
                    f"{p}.mlp.down_proj.MatMul.weight": l.down_proj_w,
                }
            )
        out["model.norm.weight"] = self.norm.weight
        out["lm_head.MatMul.weight"] = self.lm_head_w
        return {k: v.detach().cpu().numpy().astype("<f4") for k, v in out.items()}


# ----------------------------------------------------------------------------- data


def encode_doc(tok, doc, extra_rng=None, max_len=64, extra=1):
    """Token ids and a mask of the positions that are answers (answer, then <|endoftext|>).

    With extra_rng (training), more questions about the same facts may follow, each answered
    and closed by <|endoftext|>, as long as the sequence fits: more answer tokens per document."""
    seq = tok.encode(doc["prompt"])
    target = [False] * len(seq)
    answer = tok.encode(doc["target"]) + [tok.eos]
    seq += answer
    target += [True] * len(answer)
    if extra_rng is not None:
        order = list(range(len(doc["questions"])))
        extra_rng.shuffle(order)
        # 2: every question that fits (padding to the batch's longest row costs the same anyway)
        count = len(order) if extra == 2 else extra_rng.randint(0, len(order))
        for i in order[:count]:
            more = tok.encode(" " + doc["questions"][i])
            ans = tok.encode(doc["answers"][i]) + [tok.eos]
            if len(seq) + len(more) + len(ans) > max_len + 1:
                break
            seq += more + ans
            target += [False] * len(more) + [True] * len(ans)
    return seq, target


def sentence_names(tok, seq, where="all"):
    """For each token, the person its sentence is about, from the name token to the sentence's
    end (and a question's answer); -100 elsewhere. "Anna" and " Anna" are the same person.
    where="ends": only at a fact's value and full stop and at a question's "?", so that the
    template words between ("works as a"), which facts and questions share, need not carry it."""
    out = []
    cur = -100
    for i, t in enumerate(seq):
        if t in tok.name_of:
            cur = tok.name_of[t]
        end = t in (tok.period, tok.qmark) or (i + 1 < len(seq) and seq[i + 1] == tok.period)
        out.append(cur if where == "all" or end else -100)
        if t in (tok.period, tok.eos):
            cur = -100
    return out


def make_batch(gen, tok, n, extra_rng=None, extra=1, names=False, probe_at="all"):
    if names:
        rows = [encode_doc(tok, gen.next(), extra_rng, extra=extra) for _ in range(n)]
        ids, labels = batch_rows(tok, rows)
        who = torch.full_like(ids, -100)
        for r, (seq, _) in enumerate(rows):
            w = sentence_names(tok, seq[:-1], probe_at)
            who[r, : len(w)] = torch.tensor(w)
        return ids, labels, who
    return batch_rows(tok, [encode_doc(tok, gen.next(), extra_rng, extra=extra) for _ in range(n)])


def batch_rows(tok, rows):
    n = len(rows)
    S = max(len(seq) for seq, _ in rows) - 1
    ids = torch.full((n, S), tok.eos, dtype=torch.long)
    labels = torch.full((n, S), -100, dtype=torch.long)
    for r, (seq, target) in enumerate(rows):
        ids[r, : len(seq) - 1] = torch.tensor(seq[:-1])
        # loss only on the answer tokens: position i-1 predicts seq[i]
        for i in range(1, len(seq)):
            if target[i]:
                labels[r, i - 1] = seq[i]
    return ids, labels


@torch.no_grad()
def greedy_accuracy(model, tok, docs, batch=250):
    """exact answer: greedy decoding gives the answer token(s) and then <|endoftext|>"""
    model.eval()
    right = 0
    for i in range(0, len(docs), batch):
        for doc in docs[i : i + batch]:
            ids = tok.encode(doc["prompt"])
            want = tok.encode(doc["target"]) + [tok.eos]
            got = []
            for _ in range(len(want)):
                nxt = int(model(torch.tensor([ids + got]))[0, -1].argmax())
                got.append(nxt)
                if nxt == tok.eos:
                    break
            right += got == want
    model.train()
    return right / len(docs)


@torch.no_grad()
def first_token_accuracy(model, tok, docs):
    model.eval()
    ids, labels = make_batch_from(docs, tok)
    logits = model(ids)
    mask = labels != -100
    first = mask & (mask.cumsum(1) == 1)
    acc = (logits.argmax(-1)[first] == labels[first]).float().mean().item()
    model.train()
    return acc


def make_batch_from(docs, tok):
    it = iter(docs)

    class G:
        def next(self):
            return next(it)

    return make_batch(G(), tok, len(docs))


# ----------------------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="/tmp/atman-demo-build")
    ap.add_argument("--steps", type=int, default=40000, help="at most; the time limit usually ends the run first")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--arch", default="llama", choices=["llama", "gpt2"])
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--embd", type=int, default=64)
    ap.add_argument("--intermediate", type=int, default=128, help="llama: SiLU-gated MLP width")
    ap.add_argument("--rope-theta", type=float, default=10000.0)
    ap.add_argument("--eval-docs", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--deterministic", action="store_true")
    ap.add_argument("--extra-questions", type=int, default=2, help="1: add a random number of more answered questions to training documents; 2: as many as fit")
    ap.add_argument("--same-kind-train", type=float, default=None, help="sameKindProbability of the training stream")
    ap.add_argument("--sin-scale", type=float, default=0.1)
    ap.add_argument("--freeze-wpe", type=int, default=0)
    ap.add_argument("--lm-weight", type=float, default=0.3, help="weight of an auxiliary next-token loss on non-answer tokens")
    ap.add_argument("--sin-init", type=int, default=1, help="1: initialise the (learned) position embeddings sinusoidally")
    ap.add_argument("--curriculum", type=int, default=2, help="1: 2-fact one-template documents first, then 2-4 facts, then the task's 3-5; 2: 1-2 facts of one template first (10%%), then 2-4 facts (to 30%%), then the task's 3-5")
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--probe-weight", type=float, default=1.0, help="llama: weight of an auxiliary loss that reads each sentence's person from the residual stream after --probe-layer layers (a training-only linear head)")
    ap.add_argument("--probe-layer", type=int, default=1)
    ap.add_argument("--probe-at", default="all", choices=["all", "ends"], help="the tokens the probe reads: every token from the name on, or only values, full stops and question marks")
    ap.add_argument("--init-from", default="", help="a build folder of an earlier run (weights.bin + manifest.json, same dims) to continue from")
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--stop-at", type=float, default=2.0, help="stop once the held-out answer-token accuracy reaches this (checked every --eval-every steps; above 1: never, so the learning rate anneals)")
    ap.add_argument("--time-limit", type=float, default=480, help="seconds; the lr schedule and curriculum follow max(step/steps, time/limit); 0: no limit")
    args = ap.parse_args()

    torch.manual_seed(TORCH_SEED)
    random.seed(TORCH_SEED)
    np.random.seed(TORCH_SEED % 2**32)
    torch.set_num_threads(args.threads)
    # CPU kernels are deterministic for a fixed thread count; use_deterministic_algorithms(True)
    # slows the embedding backward several-fold, so it is opt-in.
    if args.deterministic:
        torch.use_deterministic_algorithms(True)

    task = json.load(open(os.path.join(HERE, "task.json")))
    vocab = json.load(open(os.path.join(args.build, "vocab.json")))
    tok = WordTokenizer(vocab)
    tok.set_names(task["names"])
    n_positions = vocab["maxPositions"]

    # documents with this tokenizer's ids, for export.ts to compare with transformers.js
    check = TaskGenerator(TOKEN_CHECK_SEED, task)
    check_docs = []
    for _ in range(300):
        d = check.next()
        check_docs.append({**d, "promptIds": tok.encode(d["prompt"]), "targetIds": tok.encode(d["target"])})
    json.dump({"seed": TOKEN_CHECK_SEED, "docs": check_docs}, open(os.path.join(args.build, "token-check.json"), "w"))

    eval_gen = TaskGenerator(EVAL_SEED, task)
    eval_docs = [eval_gen.next() for _ in range(args.eval_docs)]
    eval_prompts = {d["prompt"] for d in eval_docs}

    if args.arch == "llama":
        model = Llama(tok.vocab_size, args.layers, args.heads, args.embd, n_positions, args.intermediate, args.rope_theta)
    else:
        model = Gpt2(tok.vocab_size, args.layers, args.heads, args.embd, n_positions)
    if args.arch == "gpt2" and args.sin_init:
        # still learned positions; a sinusoidal start makes relative offsets easy to find
        with torch.no_grad():
            pos = torch.arange(n_positions, dtype=torch.float32)[:, None]
            freq = torch.exp(-math.log(10000.0) * torch.arange(0, args.embd, 2, dtype=torch.float32) / args.embd)
            model.wpe[:, 0::2] = torch.sin(pos * freq) * args.sin_scale
            model.wpe[:, 1::2] = torch.cos(pos * freq) * args.sin_scale
    if args.init_from and args.arch != "gpt2":
        raise SystemExit("--init-from reads GPT-2 builds only")
    if args.init_from:
        m = json.load(open(os.path.join(args.init_from, "manifest.json")))
        raw = open(os.path.join(args.init_from, "weights.bin"), "rb").read()
        hf = {k: v for k, v in model.hf_state().items()}
        params = dict(model.named_parameters())
        inv = {}
        for i, b in enumerate(model.blocks):
            pre = f"transformer.h.{i}"
            for a, bname in [("ln_1.weight", "ln_1.weight"), ("ln_1.bias", "ln_1.bias"), ("attn.c_attn.weight", "c_attn_w"), ("attn.c_attn.bias", "c_attn_b"), ("attn.c_proj.weight", "attn_proj_w"), ("attn.c_proj.bias", "attn_proj_b"), ("ln_2.weight", "ln_2.weight"), ("ln_2.bias", "ln_2.bias"), ("mlp.c_fc.weight", "c_fc_w"), ("mlp.c_fc.bias", "c_fc_b"), ("mlp.c_proj.weight", "mlp_proj_w"), ("mlp.c_proj.bias", "mlp_proj_b")]:
                inv[f"{pre}.{a}"] = f"blocks.{i}.{bname}"
        inv.update({"transformer.wte.weight": "wte", "transformer.wpe.weight": "wpe", "transformer.ln_f.weight": "ln_f.weight", "transformer.ln_f.bias": "ln_f.bias"})
        with torch.no_grad():
            for t in m["tensors"]:
                n = int(np.prod(t["shape"]))
                arr = np.frombuffer(raw, dtype="<f4", count=n, offset=t["offset"]).reshape(t["shape"])
                params[inv[t["name"]]].copy_(torch.from_numpy(arr.copy()))
        print(f"initialised from {args.init_from}", flush=True)
    if args.arch == "gpt2" and args.freeze_wpe:
        model.wpe.requires_grad_(False)
    probe = args.arch == "llama" and args.probe_weight > 0
    if probe:
        # Binding a name to its value needs two things at once: the value's position must know
        # whose sentence it is in, and the question's end must know whom it asks about; neither
        # is rewarded until the other exists, so training sits at "any value of the asked kind".
        # This head rewards the first layer for knowing each sentence's person; it is not exported.
        name_probe = nn.Linear(args.embd, len(task["names"]))
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {args.layers} layers, {args.heads} heads, d_model {args.embd}, {n_positions} positions, vocab {tok.vocab_size}, {n_params} parameters")

    decay = [p for n, p in model.named_parameters() if n.endswith("_w") and p.requires_grad]
    no_decay = [p for n, p in model.named_parameters() if not n.endswith("_w") and p.requires_grad]
    if probe:
        no_decay += list(name_probe.parameters())
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.98))
    warmup = args.warmup

    t0 = time.time()

    def progress(step):
        """share of the run done: by steps, or by the time limit when that comes first"""
        frac = step / max(1, args.steps)
        if args.time_limit:
            frac = max(frac, (time.time() - t0) / args.time_limit)
        return min(frac, 1.0)

    def lr_at(step, frac):
        if step < warmup:
            return args.lr * (step + 1) / warmup
        return args.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac)))

    train_task = dict(task)
    if args.same_kind_train is not None:
        # training documents may all use one template: guessing by kind then never helps, so
        # the only way down is binding each name to its value (the eval stream is unchanged)
        train_task["sameKindProbability"] = args.same_kind_train
    gen = TaskGenerator(TRAIN_SEED, train_task)
    gen.task = dict(train_task)  # the curriculum changes the stream's facts per document and template mix

    def curriculum(frac):
        if not args.curriculum or frac >= 0.3:
            return train_task["minFacts"], train_task["maxFacts"], train_task["sameKindProbability"]
        if args.curriculum == 2:
            # as the image demo: few items first (one fact needs no binding; two of one template
            # can only be told apart by the name), then more
            return (1, 2, 1.0) if frac < 0.1 else (2, 4, 0.8)
        if frac < 0.15:
            return 2, 2, 1.0  # two facts of one template: only binding the name to its value helps
        return 2, 4, 0.8
    extra_rng = random.Random(TRAIN_SEED) if args.extra_questions else None
    seen_eval = 0
    running = None
    steps_done = 0
    phases = []  # the curriculum phase of each step, to replay the training stream below
    for step in range(args.steps):
        frac = progress(step)
        lr = lr_at(step, frac)
        for g in opt.param_groups:
            g["lr"] = lr
        phases.append(curriculum(frac))
        gen.task["minFacts"], gen.task["maxFacts"], gen.task["sameKindProbability"] = phases[-1]
        if probe:
            ids, labels, who = make_batch(gen, tok, args.batch, extra_rng, args.extra_questions, names=True, probe_at=args.probe_at)
            logits, hidden = model(ids, hidden_after=args.probe_layer)
        else:
            ids, labels = make_batch(gen, tok, args.batch, extra_rng, args.extra_questions)
            logits = model(ids)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
        if probe:
            p_logits = name_probe(hidden)
            loss = loss + args.probe_weight * F.cross_entropy(p_logits.reshape(-1, p_logits.shape[-1]), who.reshape(-1), ignore_index=-100)
        if args.lm_weight > 0:
            # auxiliary next-token loss on the other (non-padding) positions
            nxt = torch.full_like(ids, -100)
            nxt[:, :-1] = ids[:, 1:]
            nxt[labels != -100] = -100
            nxt[:, :-1][ids[:, 1:] == tok.eos] = -100
            loss = loss + args.lm_weight * F.cross_entropy(logits.reshape(-1, logits.shape[-1]), nxt.reshape(-1), ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        steps_done = step + 1
        if step % args.eval_every == 0 or step == args.steps - 1:
            acc = first_token_accuracy(model, tok, eval_docs[:500])
            print(f"step {step:5d}  loss {running:.4f}  held-out answer-token acc {acc:.3f}  lr {lr:.2e}  facts {gen.task['minFacts']}-{gen.task['maxFacts']}  {time.time() - t0:.0f}s", flush=True)
            if step > 0 and acc >= args.stop_at and gen.task["maxFacts"] == train_task["maxFacts"]:
                print(f"stopping early: {acc:.3f} >= {args.stop_at}", flush=True)
                break
        if frac >= 1.0 and args.time_limit and time.time() - t0 > args.time_limit:
            print(f"stopping at step {step}: time limit {args.time_limit:.0f}s", flush=True)
            break
    train_seconds = time.time() - t0

    # how many held-out prompts the training stream also produced (replayed, cheap)
    replay = TaskGenerator(TRAIN_SEED, train_task)
    replay.task = dict(train_task)
    for i in range(steps_done * args.batch):
        replay.task["minFacts"], replay.task["maxFacts"], replay.task["sameKindProbability"] = phases[i // args.batch]
        if replay.next()["prompt"] in eval_prompts:
            seen_eval += 1

    acc = greedy_accuracy(model, tok, eval_docs)
    print(f"held-out exact-answer accuracy (greedy, {len(eval_docs)} documents, seed {EVAL_SEED}): {acc:.4f}")
    print(f"held-out prompts that also occurred in training: {seen_eval}")
    print(f"training time: {train_seconds:.0f}s")

    # weights
    state = model.hf_state()
    manifest = {"tensors": [], "dims": {}, "training": {}, "reference": []}
    offset = 0
    with open(os.path.join(args.build, "weights.bin"), "wb") as f:
        for name, arr in state.items():
            f.write(arr.tobytes())
            manifest["tensors"].append({"name": name, "shape": list(arr.shape), "offset": offset})
            offset += arr.nbytes
    manifest["arch"] = args.arch
    if args.arch == "llama":
        manifest["dims"] = {"vocab": tok.vocab_size, "nLayer": args.layers, "nHead": args.heads, "nKvHead": args.heads, "hidden": args.embd, "intermediate": args.intermediate, "maxPositions": n_positions, "ropeTheta": args.rope_theta, "rmsEps": 1e-5}
    else:
        manifest["dims"] = {"vocab": tok.vocab_size, "nLayer": args.layers, "nHead": args.heads, "nEmbd": args.embd, "nPositions": n_positions}
    manifest["training"] = {
        "steps": steps_done,
        "plannedSteps": args.steps,
        "curriculum": args.curriculum,
        "warmup": args.warmup,
        "batch": args.batch,
        "lr": args.lr,
        "seconds": round(train_seconds),
        "threads": args.threads,
        "arch": args.arch,
        "timeLimit": args.time_limit,
        "intermediate": args.intermediate,
        "layers": args.layers,
        "heads": args.heads,
        "embd": args.embd,
        "extraQuestions": args.extra_questions,
        "sinusoidalPositionInit": args.sin_init,
        "sameKindTrain": args.same_kind_train,
        "sinScale": args.sin_scale,
        "freezeWpe": args.freeze_wpe,
        "lmWeight": args.lm_weight,
        "probeWeight": args.probe_weight if probe else 0,
        "probeLayer": args.probe_layer,
        "probeAt": args.probe_at,
        "torch": torch.__version__,
        "parameters": n_params,
        "heldOutDocuments": len(eval_docs),
        "heldOutSeed": EVAL_SEED,
        "heldOutExactAccuracy": acc,
        "heldOutSeenInTraining": seen_eval,
    }
    # reference logits at the last prompt position, for export.ts to compare with onnxruntime
    model.eval()
    with torch.no_grad():
        for d in eval_docs[:3]:
            ids = tok.encode(d["prompt"])
            manifest["reference"].append({"prompt": d["prompt"], "ids": ids, "lastLogits": model(torch.tensor([ids]))[0, -1].tolist()})
    json.dump(manifest, open(os.path.join(args.build, "manifest.json"), "w"), indent=1)
    print(f"wrote {args.build}/weights.bin ({offset} bytes), manifest.json, token-check.json")


if __name__ == "__main__":
    main()
