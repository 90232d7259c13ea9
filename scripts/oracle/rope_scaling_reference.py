"""
transformers' reference for lowbit's rope scaling (llama3, linear): the
embedded tinycode-7m weights with a rope scaling block in config.json, run by
LlamaForCausalLM in float32 on the CPU. Writes one JSON per variant with the
config block, transformers' inv_freq, and for each reference prompt the
last-position top-32 logits, the log-softmax of the prompt's own tokens
(teacher-forced NLL) and 32 greedy tokens.

  python3 scripts/oracle/rope_scaling_reference.py OUTDIR
(run where torch and transformers are installed: the device machine)
"""
import json, math, os, shutil, sys, tempfile

import torch
import transformers
from transformers import AutoConfig, LlamaForCausalLM

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SRC = os.path.join(REPO, "models", "tinycode-7m")
VARIANTS = {
    # original context 64: wavelengths above 64 are scaled by 1/8, 16..64 smoothed, below 16 kept
    "llama3": {"rope_type": "llama3", "rope_theta": 10000.0, "factor": 8.0, "low_freq_factor": 1.0,
               "high_freq_factor": 4.0, "original_max_position_embeddings": 64},
    "linear": {"rope_type": "linear", "rope_theta": 10000.0, "factor": 4.0},
}

def main(out_dir):
    torch.manual_seed(0)
    refs = json.load(open(os.path.join(SRC, "reference.json")))["prompts"]
    os.makedirs(out_dir, exist_ok=True)
    for name, params in VARIANTS.items():
        d = tempfile.mkdtemp()
        for f in ("model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json"):
            shutil.copy(os.path.join(SRC, f), d)
        cfg = json.load(open(os.path.join(SRC, "config.json")))
        cfg["rope_parameters"] = params
        json.dump(cfg, open(os.path.join(d, "config.json"), "w"), indent=2)
        model = LlamaForCausalLM.from_pretrained(d, dtype=torch.float32).eval()
        inv_freq = model.model.rotary_emb.inv_freq.float().tolist()
        prompts = []
        for r in refs:
            ids = torch.tensor([r["input_ids"]])
            with torch.no_grad():
                logits = model(ids).logits[0].float()
                logp = torch.log_softmax(logits, dim=-1)
                nll = [-logp[i, r["input_ids"][i + 1]].item() for i in range(len(r["input_ids"]) - 1)]
                top = torch.topk(logits[-1], 32)
                gen = model.generate(ids, max_new_tokens=32, do_sample=False, eos_token_id=None,
                                     pad_token_id=0, min_new_tokens=32)
            prompts.append({
                "input_ids": r["input_ids"],
                "top_ids": top.indices.tolist(),
                "top_logits": top.values.tolist(),
                "last_logsumexp": torch.logsumexp(logits[-1], 0).item(),
                "nll": nll,
                "greedy_ids": gen[0, ids.shape[1]:].tolist(),
            })
        json.dump({"model": "tinycode-7m", "rope_parameters": params, "transformers": transformers.__version__,
                   "torch": torch.__version__, "dtype": "float32", "inv_freq": inv_freq, "prompts": prompts},
                  open(os.path.join(out_dir, f"{name}.json"), "w"))
        print(name, "inv_freq[:4]", inv_freq[:4], "greedy[0][:8]", prompts[0]["greedy_ids"][:8])

if __name__ == "__main__":
    main(sys.argv[1])
