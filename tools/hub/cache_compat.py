#!/usr/bin/env python3
"""Checks that adaneg and huggingface_hub/transformers share one Hugging Face cache.

Both directions go through adaneg's mock Hub (`adaneg-hub-mock`), so no network is needed:

  fixture  OUT      huggingface_hub's snapshot_download fills a fresh cache at OUT from the mock;
                    the result is committed under Tests/ModelHubTests/Fixtures/ and the Swift tests
                    check that adaneg finds it offline (no Python needed by `swift test`).
  load     ADANEG   adaneg fetch-model fills a fresh cache from the mock; transformers then loads
                    the model from it with from_pretrained(id, local_files_only=True) and
                    HF_HUB_OFFLINE=1, and its text features must equal `adaneg embed-text` run
                    offline on the same cache.

Run from the repository root with the venv of tools/hub/README.md.
"""
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REPO = "adaneg-test/tiny-clip"
TINY = os.path.join(ROOT, "Tests/CLIPTests/Fixtures/models/tiny-p32-gelu-bf16")
TOKENIZER = os.path.join(ROOT, "Tests/CLIPTests/Fixtures/tokenizer")


def mock_binary():
    return os.environ.get("HUB_MOCK", os.path.join(ROOT, ".build/debug/adaneg-hub-mock"))


def start_mock(folder):
    """Starts the mock serving `folder` as REPO; returns (process, hub url)."""
    proc = subprocess.Popen([mock_binary(), REPO, folder], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip()
    fields = dict(part.split("=", 1) for part in line.split())
    return proc, fields["HUB"]


def small_checkpoint(folder):
    """A synthetic checkpoint: the layout matters to the fixture, not the weights."""
    os.makedirs(folder, exist_ok=True)
    shutil.copy(os.path.join(TINY, "config.json"), folder)
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    header += b" " * (-len(header) % 8)
    with open(os.path.join(folder, "model.safetensors"), "wb") as f:
        f.write(len(header).to_bytes(8, "little") + header + b"\0\0\x80?\0\0\0@")
    with open(os.path.join(folder, "vocab.json"), "w") as f:
        json.dump({"a</w>": 0, "<|startoftext|>": 1, "<|endoftext|>": 2}, f)
    with open(os.path.join(folder, "merges.txt"), "w") as f:
        f.write("#version: 0.2\n")
    with open(os.path.join(folder, "pytorch_model.bin"), "wb") as f:
        f.write(b"not fetched by adaneg")


def real_checkpoint(folder):
    """The tiny random-weight CLIP of the CLIP tests, with the real CLIP BPE vocabulary."""
    os.makedirs(folder, exist_ok=True)
    shutil.copy(os.path.join(TINY, "config.json"), folder)
    for src, dst in [(os.path.join(TINY, "model.safetensors.gz"), "model.safetensors"),
                     (os.path.join(TOKENIZER, "vocab.json.gz"), "vocab.json"),
                     (os.path.join(TOKENIZER, "merges.txt.gz"), "merges.txt")]:
        with gzip.open(src, "rb") as fin, open(os.path.join(folder, dst), "wb") as fout:
            shutil.copyfileobj(fin, fout)


def fixture(out):
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "model")
        small_checkpoint(src)
        proc, hub = start_mock(src)
        try:
            shutil.rmtree(out, ignore_errors=True)
            env = {"HF_ENDPOINT": hub, "HF_HUB_CACHE": out, "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_XET": "1"}
            code = ("import sys; from huggingface_hub import snapshot_download; "
                    "print(snapshot_download(sys.argv[1], allow_patterns=['*.json', '*.safetensors', 'merges.txt']))")
            path = subprocess.run([sys.executable, "-c", code, REPO], env={**os.environ, **env},
                                  check=True, stdout=subprocess.PIPE, text=True).stdout.strip()
        finally:
            proc.terminate()
            proc.wait()
    shutil.rmtree(os.path.join(out, ".locks"), ignore_errors=True)
    commit = os.path.basename(path)
    files = sorted(os.listdir(path))
    with open(os.path.join(os.path.dirname(out), "hf-cache.json"), "w") as f:
        json.dump({"repo": REPO, "commit": commit, "files": files,
                   "made_by": "huggingface_hub snapshot_download (tools/hub/cache_compat.py fixture)"}, f, indent=2)
        f.write("\n")
    print(f"fixture: {out} holds {REPO}@{commit}: {', '.join(files)}")


def load(adaneg):
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "model")
        cache = os.path.join(tmp, "cache")
        real_checkpoint(src)
        proc, hub = start_mock(src)
        try:
            env = {**os.environ, "HF_ENDPOINT": hub, "HF_HUB_CACHE": cache}
            folder = subprocess.run([adaneg, "fetch-model", REPO], env=env, check=True,
                                    capture_output=True, text=True).stdout.strip()
        finally:
            proc.terminate()
            proc.wait()
        offline = {**os.environ, "HF_HUB_CACHE": cache, "HF_HUB_OFFLINE": "1"}
        texts = os.path.join(tmp, "texts.txt")
        with open(texts, "w") as f:
            f.write("a photo of a dog\na photo of a cat\n")
        subprocess.run([adaneg, "embed-text", "--model", REPO, "--texts", texts, "--out", os.path.join(tmp, "t.npy")],
                       env=offline, check=True)
        code = r"""
import os, sys, numpy as np, torch
from transformers import CLIPModel, CLIPTokenizer
model = CLIPModel.from_pretrained(sys.argv[1], local_files_only=True).float().eval()
tok = CLIPTokenizer.from_pretrained(sys.argv[1], local_files_only=True)
texts = [l.strip() for l in open(sys.argv[2])]
with torch.no_grad():
    out = model.get_text_features(**tok(texts, padding=True, return_tensors="pt"))
    f = out if torch.is_tensor(out) else out.pooler_output
f = torch.nn.functional.normalize(f, dim=-1).numpy()
ours = np.load(sys.argv[3])
print(f"transformers loaded {sys.argv[1]} from {os.environ['HF_HUB_CACHE']}; max |adaneg - transformers| = {np.abs(ours - f).max():.2e}")
assert ours.shape == f.shape and np.abs(ours - f).max() < 1e-4
"""
        subprocess.run([sys.executable, "-c", code, REPO, texts, os.path.join(tmp, "t.npy")], env=offline, check=True)
        print(f"ok: adaneg fetched {REPO} into {folder}; transformers read the same cache offline")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("fixture", "load"):
        sys.exit(__doc__)
    fixture(sys.argv[2]) if sys.argv[1] == "fixture" else load(sys.argv[2])
