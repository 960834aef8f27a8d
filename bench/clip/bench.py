#!/usr/bin/env python3
"""CLIP throughput: `adaneg` (Swift + OpenBLAS) against transformers/torch and Pillow/torchvision.

    swift build -c release --product adaneg            # or any scratch path; pass --adaneg
    .venv-clip/bin/python bench/clip/bench.py --adaneg .build/release/adaneg --threads 2

Measures, with the same thread count on both sides, in rounds that alternate the two sides;
each round gives a ratio from back-to-back measurements, and the median over rounds is reported
(so a busy neighbour on a shared machine, whose load changes from minute to minute, skews both
sides of a ratio alike):

1. images/s of `adaneg embed-images` (decode + preprocess + ViT-B/16 vision tower, batch 32)
   against `CLIPModel.get_image_features` in torch on already preprocessed batches of 32;
   the Swift rate is marginal (a 96-image run minus a 32-image run, so model loading and the
   first batch's warm-up do not count);
2. prompts/s of the text tower: `adaneg embed-text` (each prompt encoded up to its end token)
   against torch encoding the usual 77 padded tokens, on NegMining-like prompts of 3-8 words;
3. decode + preprocess images/s: `adaneg embed-images` with a tiny model (so the transformer
   costs nothing) against Pillow open + convert("RGB") + torchvision's Resize/CenterCrop/
   ToTensor/Normalize, one thread each;
4. the machine's sgemm peak through the system OpenBLAS, and the fraction of it the Swift
   vision encoder reaches; the peak resident memory of embed-images.

Results go to stdout and bench/clip/RESULTS.md. The ViT-B/16 checkpoint (random weights, 600 MB)
is written to --work (default /tmp/adaneg-clip-bench), never into the repository.
"""
import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import types

sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from torchvision import transforms as T  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools", "clip"))
sys.path.insert(0, HERE)

MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)

# FLOPs of one ViT-B/16 image through the vision encoder (multiply-add = 2).
TOKENS, WIDTH, MLP, LAYERS = 197, 768, 3072, 12
VIT_B16_FLOPS = LAYERS * (TOKENS * 2 * (4 * WIDTH * WIDTH + 2 * WIDTH * MLP) + 2 * 2 * TOKENS * TOKENS * WIDTH) \
    + 196 * 2 * 768 * 768


def run(cmd, env=None):
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stderr}")
    return dt, p


def make_images(directory, count):
    rng = np.random.default_rng(0)
    os.makedirs(directory, exist_ok=True)
    paths = []
    sizes = [(500, 375), (375, 500), (640, 480), (500, 333)]
    for i in range(count):
        path = os.path.join(directory, f"{i}.jpg")
        paths.append(path)
        if os.path.exists(path):
            continue
        w, h = sizes[i % len(sizes)]
        small = rng.random((h // 16, w // 16, 3))
        im = Image.fromarray((small * 255).astype(np.uint8)).resize((w, h), Image.BICUBIC)
        a = np.asarray(im).astype(np.float32) + rng.normal(0, 8, (h, w, 3))
        Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).save(path, quality=90)
    return paths


def write_list(path, items):
    with open(path, "w") as f:
        f.write("\n".join(items) + "\n")
    return path


def sgemm_binary(work):
    src = os.path.join(work, "sgemm.c")
    exe = os.path.join(work, "sgemm")
    with open(src, "w") as f:
        f.write(r"""
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
int main(void){int M=6304,N=3072,K=768;float*a=malloc(4L*M*K),*b=malloc(4L*K*N),*c=malloc(4L*M*N);
for(long i=0;i<(long)M*K;i++)a[i]=(i%7)*0.1f;for(long i=0;i<(long)K*N;i++)b[i]=(i%5)*0.1f;
double best=0;for(int r=0;r<8;r++){double t=now();cblas_sgemm(CblasRowMajor,CblasNoTrans,CblasTrans,M,N,K,1,a,K,b,K,0,c,N);
double g=2.0*M*N*K/(now()-t)/1e9;if(g>best)best=g;}printf("%f\n",best);return 0;}
""")
    subprocess.run(["gcc", "-O2", src, "-o", exe, "-lopenblas"], check=True)
    return exe


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--adaneg", default=os.path.join(ROOT, ".build", "release", "adaneg"))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--work", default="/tmp/adaneg-clip-bench")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--prompts", type=int, default=2000)
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    threads = args.threads
    torch.set_num_threads(threads)
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads))

    from make_model import main as make_model  # bench/clip/make_model.py
    model_dir = os.path.join(args.work, "vit-b16")
    make_model(model_dir)
    from transformers import CLIPModel
    from open_clip.tokenizer import SimpleTokenizer
    ref = CLIPModel.from_pretrained(model_dir, dtype=torch.float32).eval()

    images = make_images(os.path.join(args.work, "images"), 96)
    list32 = write_list(os.path.join(args.work, "list32.txt"), images[:32])
    list96 = write_list(os.path.join(args.work, "list96.txt"), images)

    # NegMining-like prompts: "a photo of a <class name>." (3-8 words)
    classes = [l.strip() for l in open(os.path.join(ROOT, "data", "imagenet-1k-classes.txt")) if l.strip()]
    prompts = [f"a photo of a {classes[i % len(classes)]}." for i in range(args.prompts)]
    prompts = [p for p in prompts if 3 <= len(p.split()) <= 8]
    few = prompts[: len(prompts) // 5]
    texts_all = write_list(os.path.join(args.work, "prompts.txt"), prompts)
    texts_few = write_list(os.path.join(args.work, "prompts_few.txt"), few)
    tok = SimpleTokenizer()
    ids = tok(prompts)  # padded to 77, as CLIP is usually run

    samples = {}

    def sample(key, value):  # one value per round; medians are reported
        samples.setdefault(key, []).append(value)

    x = torch.randn(32, 3, 224, 224)
    with torch.inference_mode():
        ref.get_image_features(pixel_values=x)
        ref.get_text_features(input_ids=ids[:256])
    out = os.path.join(args.work, "out.npy")
    sgemm = sgemm_binary(args.work)
    peak_rss = 0
    for r in range(args.rounds):
        # 1. vision
        with torch.inference_mode():
            t = time.perf_counter()
            for _ in range(2):
                ref.get_image_features(pixel_values=x)
            sample("torch_images", 64 / (time.perf_counter() - t))
        base = ["--model", model_dir, "--out", out, "--batch-size", "32", "--threads", str(threads)]
        t32, _ = run([args.adaneg, "embed-images", "--images", list32] + base, env)
        t96, _ = run(["/usr/bin/time", "-v", args.adaneg, "embed-images", "--images", list96] + base, env)
        rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", _.stderr)
        if rss:
            peak_rss = max(peak_rss, int(rss.group(1)) / 1024)
        sample("adaneg_images", 64 / (t96 - t32))
        sample("sgemm_gflops", float(subprocess.run([sgemm], capture_output=True, text=True, check=True, env=env).stdout))
        # 2. text
        with torch.inference_mode():
            t = time.perf_counter()
            torch_count = min(len(prompts), 512)  # torch is slow at 77 tokens: a sample is enough
            for i in range(0, torch_count, 256):
                ref.get_text_features(input_ids=ids[i:min(torch_count, i + 256)])
            sample("torch_prompts", torch_count / (time.perf_counter() - t))
        tb = ["--model", model_dir, "--out", out, "--threads", str(threads)]
        tf, _ = run([args.adaneg, "embed-text", "--texts", texts_few] + tb, env)
        ta, _ = run([args.adaneg, "embed-text", "--texts", texts_all] + tb, env)
        sample("adaneg_prompts", (len(prompts) - len(few)) / (ta - tf))
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f}" for k, v in samples.items()), flush=True)

    # 3. decode + preprocess, one thread each
    tf_pipe = T.Compose([T.Resize(224, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(224),
                         T.ToTensor(), T.Normalize(MEAN, STD)])
    torch.set_num_threads(1)
    tiny = os.path.join(args.work, "tiny")
    if not os.path.exists(os.path.join(tiny, "model.safetensors")):
        import gzip
        os.makedirs(tiny, exist_ok=True)
        fx = os.path.join(ROOT, "Tests", "CLIPTests", "Fixtures")
        shutil.copy(os.path.join(fx, "models", "tiny-p32-quickgelu-fp32", "config.json"), tiny)
        with gzip.open(os.path.join(fx, "models", "tiny-p32-quickgelu-fp32", "model.safetensors.gz")) as s, \
                open(os.path.join(tiny, "model.safetensors"), "wb") as d:
            shutil.copyfileobj(s, d)
    list288 = write_list(os.path.join(args.work, "list288.txt"), images * 3)
    for _ in range(args.rounds):
        t = time.perf_counter()
        for p in images * 2:
            with Image.open(p) as im:
                tf_pipe(im.convert("RGB"))
        sample("pillow_preprocess", 2 * len(images) / (time.perf_counter() - t))
        for n_threads, key in ((1, "adaneg_preprocess_1t"), (threads, "adaneg_preprocess")):
            e1 = dict(os.environ, OPENBLAS_NUM_THREADS=str(n_threads))
            small, _ = run([args.adaneg, "embed-images", "--model", tiny, "--images", list32, "--out", out,
                            "--threads", str(n_threads)], e1)
            big, _ = run([args.adaneg, "embed-images", "--model", tiny, "--images", list288, "--out", out,
                          "--threads", str(n_threads)], e1)
            sample(key, (288 - 32) / (big - small))

    def median(values):
        v = sorted(values)
        n = len(v)
        return v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])

    def ratio(a, b):
        return median([x / y for x, y in zip(samples[a], samples[b])])

    results = {k: median(v) for k, v in samples.items()}
    img_ratio = ratio("adaneg_images", "torch_images")
    text_ratio = ratio("adaneg_prompts", "torch_prompts")
    pre_ratio = ratio("adaneg_preprocess_1t", "pillow_preprocess")
    per_round = "; ".join(f"{k}: " + ", ".join(f"{x:.2f}" for x in v) for k, v in samples.items())
    peak = results["sgemm_gflops"]
    encoder_gflops = results["adaneg_images"] * VIT_B16_FLOPS / 1e9
    peak_fraction = median([a * VIT_B16_FLOPS / 1e9 / g for a, g in zip(samples["adaneg_images"], samples["sgemm_gflops"])])
    weights_mb = os.path.getsize(os.path.join(model_dir, "model.safetensors")) / 2**20
    lines = [
        "# CLIP benchmark (bench/clip/bench.py)",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"{threads} threads on both sides; torch {torch.__version__}; medians of {args.rounds} rounds "
        "(ratios: median of per-round ratios of back-to-back measurements).",
        "ViT-B/16 architecture with random weights (fp32, "
        f"{weights_mb:.0f} MB checkpoint); synthetic JPEGs of ImageNet-like sizes (500x375 .. 640x480).",
        "",
        "| measurement | adaneg (Swift, OpenBLAS) | reference | ratio |",
        "|---|---|---|---|",
        f"| images/s, batch 32: `embed-images` (decode + preprocess + vision tower) vs "
        f"`get_image_features` on preprocessed tensors | {results['adaneg_images']:.2f} | {results['torch_images']:.2f} | "
        f"{img_ratio:.2f}x |",
        f"| text prompts/s (3-8 words), `embed-text` vs torch padded to 77, batch 256 | "
        f"{results['adaneg_prompts']:.0f} | {results['torch_prompts']:.0f} | "
        f"{text_ratio:.2f}x |",
        f"| decode + preprocess images/s, 1 thread vs Pillow + torchvision | {results['adaneg_preprocess_1t']:.0f} | "
        f"{results['pillow_preprocess']:.0f} | {pre_ratio:.2f}x |",
        f"| decode + preprocess images/s, {threads} threads | {results['adaneg_preprocess']:.0f} | | |",
        "",
        f"System OpenBLAS sgemm (6304x3072x768, best of 8 calls, measured each round right after the Swift run): "
        f"{peak:.0f} GFLOPS. The Swift vision encoder ({VIT_B16_FLOPS / 1e9:.1f} GFLOP per image) runs at "
        f"{encoder_gflops:.0f} GFLOPS end to end (decoding included), {100 * peak_fraction:.0f}% of the same round's sgemm figure.",
        "",
        f"Per round: {per_round}.",
        "",
        f"Peak resident memory of `embed-images` (96 images, batch 32): {peak_rss:.0f} MB "
        f"(fp32 weights {weights_mb:.0f} MB; budget 1.3x weights + 200 MB = {1.3 * weights_mb + 200:.0f} MB).",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    with open(os.path.join(HERE, "RESULTS.md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
