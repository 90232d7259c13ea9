"""
transformers' references for lowbit's model families: for each family a tiny
random-weight checkpoint built from its transformers config class (2 layers,
hidden 64), a small byte-level BPE tokenizer trained here with that family's
pre-tokenizer, saved with save_pretrained (bf16 weights), then run by
transformers in float32 (eager attention) on three prompts. Each family's
directory gets reference.json: the prompt ids, the last position's full
logits, the teacher-forced NLL of every prompt token, and 16 greedy tokens
(argmax of a full forward per step, no generation config involved). Where
llama.cpp's converter knows the family, it also writes model.gguf (f32) with
convert_hf_to_gguf.py from llama.cpp's source (its pre-tokenizer hash check
is replaced by the family's declared pre-tokenizer name, since the tokenizer
is ours; SPM families get the BPE vocabulary).

  python3 scripts/oracle/families_reference.py OUTDIR LLAMACPP_SRC
(run where torch and transformers are installed: the device machine;
LLAMACPP_SRC holds convert_hf_to_gguf.py, conversion/ and gguf-py/)
"""
import glob, json, os, shutil, subprocess, sys, traceback

import torch
import transformers as T
from tokenizers import Tokenizer, Regex, models, trainers, pre_tokenizers, decoders

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VOCAB = 384
H = 64
PROMPTS = [
    "def fibonacci(n):\n    if n < 2:\n        return n\n    return",
    "The quick brown fox, 12345 jumps over 67 lazy dogs!",
    "import numpy as np\nx = np.arange(10)\nprint(x.sum())",
]
LLAMA3_RE = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
QWEN2_RE = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
BLOOM_RE = " ?[^(\\s|[.,!?\u2026\u3002\uff0c\u3001\u0964\u06d4\u060c])]+"


def pre_tokenizer(kind):
    bl = lambda regex: pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=regex)
    if kind in ("gpt-2", "mpt"):
        return bl(True)
    if kind == "llama-bpe":
        return pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(LLAMA3_RE), "isolated"), bl(False)])
    if kind == "qwen2":
        return pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(QWEN2_RE), "isolated"), bl(False)])
    if kind == "starcoder":
        return pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), bl(True)])
    if kind == "falcon":
        return pre_tokenizers.Sequence([pre_tokenizers.Punctuation("contiguous"), bl(True),
                                        pre_tokenizers.Digits(individual_digits=False),
                                        pre_tokenizers.Split(Regex("[0-9][0-9][0-9]"), "isolated")])
    if kind == "bloom":
        return pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(BLOOM_RE), "isolated"), bl(False)])
    raise ValueError(kind)


def corpus():
    texts = []
    for pat in ("src/**/*.ts", "docs/*.md", "scripts/**/*.py"):
        for f in sorted(glob.glob(os.path.join(REPO, pat), recursive=True)):
            texts.append(open(f, encoding="utf-8").read())
    return texts


def train_tokenizer(kind, texts):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizer(kind)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer)
    return tok


def rope(theta):
    return {"rope_parameters": {"rope_type": "default", "rope_theta": theta}}


def families(V):
    common = dict(vocab_size=V, hidden_size=H, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=128, bos_token_id=0, eos_token_id=0, pad_token_id=0)
    return {
        # name: (config class, kwargs, model class, pre-tokenizer, gguf?)
        "mistral": (T.MistralConfig, dict(common, sliding_window=8, tie_word_embeddings=False, **rope(10000.0)),
                    T.MistralForCausalLM, "llama-bpe", True),
        "qwen2": (T.Qwen2Config, dict(common, tie_word_embeddings=True, **rope(1000000.0)),
                  T.Qwen2ForCausalLM, "qwen2", True),
        "qwen3": (T.Qwen3Config, dict(common, head_dim=16, tie_word_embeddings=True, **rope(1000000.0)),
                  T.Qwen3ForCausalLM, "qwen2", True),
        "starcoder2": (T.Starcoder2Config, dict(common, sliding_window=8, use_bias=True, tie_word_embeddings=True,
                                                **rope(100000.0)), T.Starcoder2ForCausalLM, "starcoder", True),
        "gpt_bigcode": (T.GPTBigCodeConfig, dict(vocab_size=V, n_embd=H, n_layer=2, n_head=4, n_inner=128,
                                                 n_positions=128, multi_query=True, bos_token_id=0, eos_token_id=0),
                        T.GPTBigCodeForCausalLM, "starcoder", True),
        "phi3": (T.Phi3Config, dict(common, tie_word_embeddings=False, original_max_position_embeddings=128,
                                    sliding_window=None, **rope(10000.0)), T.Phi3ForCausalLM, "gpt-2", True),
        "gemma2": (T.Gemma2Config, dict(common, head_dim=16, sliding_window=8, query_pre_attn_scalar=16,
                                        attn_logit_softcapping=2.0, final_logit_softcapping=3.0,
                                        hidden_activation="gelu_pytorch_tanh", **rope(10000.0)),
                   T.Gemma2ForCausalLM, "gpt-2", True),
        "gemma3": (T.Gemma3TextConfig, dict(common, head_dim=16, sliding_window=8, query_pre_attn_scalar=16,
                                            layer_types=["sliding_attention", "full_attention"],
                                            hidden_activation="gelu_pytorch_tanh", final_logit_softcapping=None,
                                            attn_logit_softcapping=None),
                   T.Gemma3ForCausalLM, "gpt-2", True),
        "falcon": (T.FalconConfig, dict(vocab_size=V, hidden_size=H, num_hidden_layers=2, num_attention_heads=4,
                                        multi_query=True, parallel_attn=True, new_decoder_architecture=False,
                                        bias=False, alibi=False, bos_token_id=0, eos_token_id=0),
                   T.FalconForCausalLM, "falcon", True),
        "gpt_neox": (T.GPTNeoXConfig, dict(vocab_size=V, hidden_size=H, intermediate_size=128, num_hidden_layers=2,
                                           num_attention_heads=4, rotary_pct=0.25, use_parallel_residual=True,
                                           max_position_embeddings=128, tie_word_embeddings=False,
                                           bos_token_id=0, eos_token_id=0),
                     T.GPTNeoXForCausalLM, "gpt-2", True),
        "gptj": (T.GPTJConfig, dict(vocab_size=V, n_embd=H, n_layer=2, n_head=4, rotary_dim=8, n_inner=128,
                                    n_positions=128, bos_token_id=0, eos_token_id=0),
                 T.GPTJForCausalLM, "gpt-2", False),
        "mpt": (T.MptConfig, dict(vocab_size=V, d_model=H, n_heads=4, n_layers=2, max_seq_len=128, expansion_ratio=2,
                                  attn_config={"alibi": True, "alibi_bias_max": 8, "clip_qkv": None},
                                  no_bias=True),
                T.MptForCausalLM, "mpt", True),
        "bloom": (T.BloomConfig, dict(vocab_size=V, hidden_size=H, n_layer=2, n_head=4, bos_token_id=0, eos_token_id=0),
                  T.BloomForCausalLM, "bloom", True),
        "opt": (T.OPTConfig, dict(vocab_size=V, hidden_size=H, ffn_dim=128, num_hidden_layers=2, num_attention_heads=4,
                                  max_position_embeddings=128, word_embed_proj_dim=H, do_layer_norm_before=True,
                                  bos_token_id=0, eos_token_id=0, pad_token_id=0),
                T.OPTForCausalLM, "gpt-2", False),
    }


def randomize(model):
    g = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=g) * 0.15)
            else:  # biases, norm weights (gemma's 1 + w included): nontrivial values
                p.add_(torch.randn(p.shape, generator=g) * 0.1)


def reference(model, tok):
    out = []
    for text in PROMPTS:
        ids = tok.encode(text).ids
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0].float()
            logp = torch.log_softmax(logits, dim=-1)
            nll = [-logp[i, ids[i + 1]].item() for i in range(len(ids) - 1)]
            seq = list(ids)
            for _ in range(16):
                seq.append(int(model(torch.tensor([seq])).logits[0, -1].argmax()))
        out.append({"text": text, "input_ids": ids, "last_logits": logits[-1].tolist(), "nll": nll,
                    "greedy_ids": seq[len(ids):]})
    return out


CONVERT = r'''
import sys
src, hf, out, pre = sys.argv[1:5]
sys.path.insert(0, src)
sys.argv = ["convert_hf_to_gguf.py", hf, "--outfile", out, "--outtype", "f32"]
import convert_hf_to_gguf as c
import conversion.base as b
b.TextModel.get_vocab_base_pre = lambda self, tokenizer: pre
b.TextModel._set_vocab_sentencepiece = lambda self, *a, **k: self._set_vocab_gpt2()
c.main()
'''


def main(out_dir, llama_src):
    os.makedirs(out_dir, exist_ok=True)
    texts = corpus()
    conv = os.path.join(out_dir, "_convert.py")
    open(conv, "w").write(CONVERT)
    summary = {}
    for name, (cfg_cls, kw, model_cls, pre, gguf) in families(VOCAB).items():
        try:
            d = os.path.join(out_dir, name)
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(d)
            tok = train_tokenizer(pre, texts)
            assert tok.get_vocab_size() == VOCAB, tok.get_vocab_size()
            fast = T.PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>",
                                             eos_token="<|endoftext|>", unk_token=None)
            fast.save_pretrained(d)
            if name == "phi3":  # llama.cpp's Phi-3 converter takes a GPT2Tokenizer's vocabulary
                tc = json.load(open(os.path.join(d, "tokenizer_config.json")))
                tc["tokenizer_class"] = "GPT2Tokenizer"
                json.dump(tc, open(os.path.join(d, "tokenizer_config.json"), "w"), indent=2)
            torch.manual_seed(0)
            cfg = cfg_cls(**kw)
            model = model_cls(cfg)
            randomize(model)
            model.to(torch.bfloat16).save_pretrained(d)
            ref_model = T.AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager").eval()
            prompts = reference(ref_model, tok)
            json.dump({"family": name, "model_type": cfg.model_type, "pre_tokenizer": pre,
                       "transformers": T.__version__, "torch": torch.__version__, "dtype": "float32",
                       "attn_implementation": "eager", "prompts": prompts},
                      open(os.path.join(d, "reference.json"), "w"))
            info = {"ok": True, "greedy0": prompts[0]["greedy_ids"][:8]}
            if gguf:
                hf = d
                if name == "mpt":  # llama.cpp's converter knows MPT by its remote-code class name
                    hf = d + "_conv"
                    shutil.copytree(d, hf)
                    c = json.load(open(os.path.join(hf, "config.json")))
                    c["architectures"] = ["MPTForCausalLM"]
                    json.dump(c, open(os.path.join(hf, "config.json"), "w"), indent=2)
                r = subprocess.run([sys.executable, conv, llama_src, hf, os.path.join(d, "model.gguf"), pre],
                                   capture_output=True, text=True)
                if hf != d:
                    shutil.rmtree(hf)
                info["gguf"] = r.returncode == 0
                if r.returncode != 0:
                    info["gguf_error"] = r.stderr[-1500:]
            summary[name] = info
            print(name, info, flush=True)
        except Exception:
            summary[name] = {"ok": False, "error": traceback.format_exc()[-2000:]}
            print(name, "FAILED", summary[name]["error"], flush=True)
    os.remove(conv)
    json.dump(summary, open(os.path.join(out_dir, "summary.json"), "w"), indent=2)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
