"""
transformers' references for rope scalings that change per forward step or per layer, on the
family fixtures' weights and tokenizers (test/fixtures/families/<variant>):

- phi3-longrope (Phi-3 128k / Phi-3.5): the phi3 fixture with rope_scaling longrope,
  original_max_position_embeddings 16 and max_position_embeddings 64 (so the long factors take over
  past 16 positions), random short and long factors;
- gemma3-linear (Gemma 3 4B and larger): the gemma3 fixture with linear scaling (factor 8) of its
  global layers' rope, its sliding layers unscaled.

For each prompt: the last position's f32 logits of a prefill, then 16 greedy tokens decoded one at
a time through the KV cache (transformers picks longrope's short or long factors per forward step
from its last position; cached keys keep the rotation they were stored with), and the logits of the
last decode step. Then model.gguf (f32) from llama.cpp's own convert_hf_to_gguf.py, as the family
fixtures' is made.

  python3 scripts/oracle/rope_variants_reference.py LLAMACPP_SRC   (torch + transformers)
"""
import json, os, random, shutil, subprocess, sys

import torch
import transformers as T
from transformers import DynamicCache

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FAMILIES = os.path.join(REPO, "test", "fixtures", "families")
PROMPTS = [
    "def add(a, b):",  # under 16 tokens: short factors, then long ones once decoding passes 16
    "def fibonacci(n):\n    if n < 2:\n        return n\n    return",  # over 16: long from the prefill on
]


def longrope(cfg):
    rnd = random.Random(7)
    half = (cfg["hidden_size"] // cfg["num_attention_heads"]) // 2
    cfg["max_position_embeddings"] = 64
    cfg["original_max_position_embeddings"] = 16
    cfg["rope_parameters"] = {
        "rope_type": "longrope", "rope_theta": 10000.0, "partial_rotary_factor": 1.0,
        "short_factor": [round(1 + 0.5 * rnd.random(), 4) for _ in range(half)],
        "long_factor": [round(1 + 3 * rnd.random(), 4) for _ in range(half)],
        "original_max_position_embeddings": 16,
    }


def gemma3_linear(cfg):
    cfg["rope_parameters"]["full_attention"] = {"rope_type": "linear", "factor": 8.0, "rope_theta": 1000000.0}


# gemma3-linear gets no converter GGUF: the converter writes no sliding-window pattern, so llama.cpp's
# default (every 6th layer global) makes both of the fixture's layers sliding, which never scale;
# the test exports the directory with lowbit (pattern written) and runs that in llama.cpp instead
VARIANTS = {"phi3-longrope": ("phi3", longrope, True), "gemma3-linear": ("gemma3", gemma3_linear, False)}


def main():
    for name, (base, edit, gguf) in VARIANTS.items():
        variant(os.path.join(FAMILIES, base), os.path.join(FAMILIES, name), edit, gguf)


def variant(SRC, OUT, edit, gguf):
    os.makedirs(OUT, exist_ok=True)
    for f in ("model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json"):
        shutil.copy(os.path.join(SRC, f), os.path.join(OUT, f))
    cfg = json.load(open(os.path.join(SRC, "config.json")))
    edit(cfg)
    json.dump(cfg, open(os.path.join(OUT, "config.json"), "w"), indent=2)
    tok = T.AutoTokenizer.from_pretrained(OUT)
    model = T.AutoModelForCausalLM.from_pretrained(OUT, dtype=torch.float32, attn_implementation="eager").eval()
    ref = {"transformers": T.__version__, "torch": torch.__version__, "prompts": []}
    with torch.no_grad():
        for text in PROMPTS:
            ids = tok(text, add_special_tokens=False)["input_ids"]
            cache = DynamicCache(config=model.config)
            out = model(torch.tensor([ids]), past_key_values=cache, use_cache=True)
            last = out.logits[0, -1].tolist()
            greedy, logits = [], out.logits[0, -1]
            for _ in range(16):
                nxt = int(torch.argmax(logits))
                greedy.append(nxt)
                out = model(torch.tensor([[nxt]]), past_key_values=cache, use_cache=True)
                logits = out.logits[0, -1]
            ref["prompts"].append({"text": text, "input_ids": ids, "last_logits": last, "greedy_ids": greedy,
                                   "final_logits": logits.tolist()})
            print(len(ids), greedy)
    json.dump(ref, open(os.path.join(OUT, "reference.json"), "w"))
    if not gguf:
        return
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from families_reference import CONVERT
    conv = os.path.join(OUT, "_convert.py")
    open(conv, "w").write(CONVERT)
    try:
        subprocess.run([sys.executable, conv, sys.argv[1], OUT, os.path.join(OUT, "model.gguf"), "gpt-2"], check=True)
    finally:
        os.remove(conv)


if __name__ == "__main__":
    main()
