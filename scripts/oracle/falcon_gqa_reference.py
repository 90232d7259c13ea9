"""
transformers' reference for Falcon's new decoder architecture (Falcon-40B / 180B style: grouped
KV heads in a per-group fused query_key_value, two LayerNorms in parallel, ln_attn and ln_mlp):
a tiny random-weight FalconForCausalLM (hidden 64, 2 layers, 4 heads, 2 KV groups, no biases)
with the falcon family fixture's tokenizer, recorded as the family fixtures are
(families_reference.reference: last logits, NLL, 16 greedy tokens for three prompts), then
model.gguf (f32) from llama.cpp's convert_hf_to_gguf.py when it converts it.

  python3 scripts/oracle/falcon_gqa_reference.py LLAMACPP_SRC   (torch + transformers)
"""
import json, os, shutil, subprocess, sys

import torch
import transformers as T
from tokenizers import Tokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from families_reference import CONVERT, randomize, reference  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SRC = os.path.join(REPO, "test", "fixtures", "families", "falcon")
OUT = os.path.join(REPO, "test", "fixtures", "families", "falcon_gqa")


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(SRC, f), os.path.join(OUT, f))
    cfg = T.FalconConfig(vocab_size=384, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_kv_heads=2,
                         new_decoder_architecture=True, parallel_attn=True, bias=False, alibi=False,
                         bos_token_id=0, eos_token_id=0)
    torch.manual_seed(0)
    model = T.FalconForCausalLM(cfg)
    randomize(model)
    model.to(torch.bfloat16).save_pretrained(OUT)
    ref_model = T.AutoModelForCausalLM.from_pretrained(OUT, dtype=torch.float32, attn_implementation="eager").eval()
    tok = Tokenizer.from_file(os.path.join(OUT, "tokenizer.json"))
    prompts = reference(ref_model, tok)
    json.dump({"family": "falcon", "model_type": "falcon", "new_decoder_architecture": True, "pre_tokenizer": "falcon",
               "transformers": T.__version__, "torch": torch.__version__, "dtype": "bfloat16",
               "attn_implementation": "eager", "prompts": prompts}, open(os.path.join(OUT, "reference.json"), "w"))
    conv = os.path.join(OUT, "_convert.py")
    open(conv, "w").write(CONVERT)
    try:
        r = subprocess.run([sys.executable, conv, sys.argv[1], OUT, os.path.join(OUT, "model.gguf"), "falcon"])
        print("converter exit", r.returncode)
    finally:
        os.remove(conv)


if __name__ == "__main__":
    main()
