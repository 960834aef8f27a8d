"""Prompts/s of transformers' CLIP text tower on NegMining prompts padded to 77 tokens, the
peer of `adaneg mine-negatives` in bench/negmining.sh. Prints one JSON line."""
import argparse
import json
import sys
import time
import types

# PyPI's torchvision wheel targets CUDA torch; transformers imports it, and this stub lets it
# load next to the CPU torch wheel (see tools/clip/README.md).
sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
import torch  # noqa: E402
from transformers import CLIPModel, CLIPTokenizer  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("prompts")
    p.add_argument("--count", type=int, default=1024)
    p.add_argument("--batch", type=int, default=256)
    a = p.parse_args()
    torch.set_num_threads(2)
    prompts = [line.rstrip("\n") for line in open(a.prompts, encoding="utf-8") if line.strip()][: a.count]
    model = CLIPModel.from_pretrained(a.model).eval()
    tok = CLIPTokenizer.from_pretrained(a.model)
    with torch.no_grad():
        warm = tok(prompts[: a.batch], padding="max_length", max_length=77, truncation=True, return_tensors="pt")
        model.get_text_features(**warm)
        start = time.perf_counter()
        for i in range(0, len(prompts), a.batch):
            batch = tok(prompts[i : i + a.batch], padding="max_length", max_length=77, truncation=True, return_tensors="pt")
            model.get_text_features(**batch)
        seconds = time.perf_counter() - start
    print(json.dumps({"prompts": len(prompts), "seconds": seconds, "prompts_per_second": len(prompts) / seconds}))


if __name__ == "__main__":
    main()
