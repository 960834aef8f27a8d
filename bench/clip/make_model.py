#!/usr/bin/env python3
"""Writes a random-weight CLIP model with the ViT-B/16 architecture (openai/clip-vit-base-patch16's
config: vision 768 wide, 12 layers, 12 heads, patch 16, 224 px; text 512 wide, 12 layers, 8 heads;
projection 512; quick_gelu) in the Hugging Face layout, plus the real CLIP vocabulary.

    .venv-clip/bin/python bench/clip/make_model.py OUT_DIR
"""
import gzip
import os
import shutil
import sys

import types

# PyPI's torchvision is built against CUDA torch; transformers imports it when present.
sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
import torch  # noqa: E402
from transformers import CLIPConfig, CLIPModel

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def main(out):
    if os.path.exists(os.path.join(out, "model.safetensors")):
        return
    torch.manual_seed(0)
    cfg = CLIPConfig(
        text_config=dict(hidden_size=512, intermediate_size=2048, num_hidden_layers=12, num_attention_heads=8,
                         max_position_embeddings=77, hidden_act="quick_gelu", vocab_size=49408, eos_token_id=2,
                         bos_token_id=0, pad_token_id=1),
        vision_config=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                           image_size=224, patch_size=16, hidden_act="quick_gelu"),
        projection_dim=512,
    )
    model = CLIPModel(cfg).eval()
    model.save_pretrained(out, safe_serialization=True)
    tok = os.path.join(ROOT, "Tests", "CLIPTests", "Fixtures", "tokenizer")
    for name in ("vocab.json", "merges.txt"):
        with gzip.open(os.path.join(tok, name + ".gz")) as src, open(os.path.join(out, name), "wb") as dst:
            shutil.copyfileobj(src, dst)


if __name__ == "__main__":
    main(sys.argv[1])
