"""
transformers' reference for Phi-3 longrope (Phi-3 128k / Phi-3.5 rope scaling): the phi3 family
fixture's weights and tokenizer with rope_scaling longrope, original_max_position_embeddings 16
and max_position_embeddings 64 (so the long factors take over past 16 positions), random short
and long factors. For each prompt: the last position's f32 logits of a prefill, then 16 greedy
tokens decoded one at a time through the KV cache (transformers picks short or long factors per
forward step from its last position; cached keys keep the rotation they were stored with), and
the logits of the last decode step.

Then model.gguf (f32) from llama.cpp's own convert_hf_to_gguf.py (rope_factors_long/short.weight,
rope.scaling.attn_factor, rope.scaling.original_context_length), as the family fixtures' is made.

  python3 scripts/oracle/longrope_reference.py LLAMACPP_SRC   (torch + transformers; writes test/fixtures/families/phi3-longrope)
"""
import json, os, random, shutil, subprocess, sys

import torch
import transformers as T
from transformers import DynamicCache

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SRC = os.path.join(REPO, "test", "fixtures", "families", "phi3")
OUT = os.path.join(REPO, "test", "fixtures", "families", "phi3-longrope")
PROMPTS = [
    "def add(a, b):",  # under 16 tokens: short factors, then long ones once decoding passes 16
    "def fibonacci(n):\n    if n < 2:\n        return n\n    return",  # over 16: long from the prefill on
]


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in ("model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json"):
        shutil.copy(os.path.join(SRC, f), os.path.join(OUT, f))
    cfg = json.load(open(os.path.join(SRC, "config.json")))
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
