#!/usr/bin/env python3
"""fp32 and bf16 CLIP image embedding: adaneg end to end against torch and OpenVINO model-only.

    swift build -c release --product adaneg
    .venv-clip/bin/pip install openvino==2026.4.1        # once, into the tools/clip venv (any venv with torch, transformers, openvino)
    .venv-clip/bin/python bench/cpu/precision.py --adaneg .build/release/adaneg --threads 2 --rounds 3

The ViT-B/16 architecture with random weights (bench/clip/make_model.py), synthetic JPEGs of
ImageNet-like sizes, batch 32, the same thread count everywhere. Each round measures, back to back:

- `adaneg embed-images --precision fp32` and `--precision bf16`, end to end (decode, preprocess,
  vision tower); the rate is marginal (a run of N images minus a run of 32), so model loading and
  the first batch's warm-up do not count;
- torch `get_image_features` in fp32 and under `torch.autocast("cpu", torch.bfloat16)`, model only
  (on already preprocessed tensors);
- OpenVINO (`openvino.convert_model` on the vision tower + projection) compiled with
  INFERENCE_PRECISION_HINT f32 and bf16, one stream, model only.

Ratios are medians of per-round ratios, so a busy neighbour skews both sides of a ratio alike.
It also reports the worst row cosine between adaneg's bf16 and fp32 features, and with
--negmining the wall time of NegMining for ImageNet's 1,000 classes over WordNet (fp32 and bf16).
Results go to stdout and bench/cpu/RESULTS.md.
"""
import argparse
import os
import platform
import subprocess
import sys
import time
import types

sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
import numpy as np  # noqa: E402
import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "bench", "clip"))


def median(values):
    return float(np.median(values))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--adaneg", default=os.path.join(ROOT, ".build", "release", "adaneg"))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--work", default="/tmp/adaneg-clip-bench")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--images", type=int, default=96, help="images in the long run (the short one has 32)")
    ap.add_argument("--negmining", action="store_true", help="also time mine-negatives on ImageNet's classes")
    ap.add_argument("--results", default=os.path.join(HERE, "RESULTS.md"))
    ap.add_argument("--max-load", type=float, default=1.3 * os.cpu_count(),
                    help="a round whose 1-minute load average before or after exceeds this is reported but left out of the medians "
                         "(default 1.3 x the cores: the benchmark itself brings it to about the core count)")
    ap.add_argument("--no-torch", action="store_true", help="skip torch's model-only timings (faster rounds)")
    ap.add_argument("--variant", action="append", default=[], metavar="LABEL:VAR=VALUE[,VAR=VALUE]",
                    help="also time adaneg with these environment settings, right after the default, per precision "
                         "(e.g. dispatch:ADANEG_CPU_POOL=dispatch to measure a lever; reported as adaneg_LABEL_PRECISION)")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    threads = args.threads
    torch.set_num_threads(threads)
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))

    from bench import make_images, run, write_list  # bench/clip/bench.py
    from make_model import main as make_model
    model_dir = os.path.join(args.work, "vit-b16")
    make_model(model_dir)
    from transformers import CLIPModel
    ref = CLIPModel.from_pretrained(model_dir, dtype=torch.float32).eval()

    images = make_images(os.path.join(args.work, "images"), max(args.images, 64))
    short = write_list(os.path.join(args.work, "list32.txt"), images[:32])
    long = write_list(os.path.join(args.work, f"list{args.images}.txt"), images[: args.images])
    marginal = args.images - 32

    # OpenVINO (where installed): the vision tower and projection as one graph, per precision.
    try:
        import openvino as ov
    except ImportError:
        ov = None

    class Vision(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, pixel_values):
            return self.m.get_image_features(pixel_values=pixel_values)

    x = torch.randn(32, 3, 224, 224)
    compiled = {}
    if ov is not None:
        core = ov.Core()
        with torch.inference_mode():
            ov_model = ov.convert_model(Vision(ref), example_input=x)
        compiled = {
            hint: core.compile_model(ov_model, "CPU", {"INFERENCE_PRECISION_HINT": hint, "INFERENCE_NUM_THREADS": threads,
                                                      "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY"})
            for hint in ("f32", "bf16")
        }
    xn = x.numpy()
    for c in compiled.values():
        c(xn)
    with torch.inference_mode():
        ref.get_image_features(pixel_values=x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            ref.get_image_features(pixel_values=x)

    samples = {}

    def sample(key, value):
        samples.setdefault(key, []).append(value)

    def model_only(fn, batches=2):
        t = time.perf_counter()
        for _ in range(batches):
            fn()
        return 32 * batches / (time.perf_counter() - t)

    # One untimed run per precision first: it builds the converted-weights cache (and packs the
    # weights), which would otherwise fall into round 1's short run and inflate its marginal rate.
    for precision in ("fp32", "bf16"):
        run([args.adaneg, "embed-images", "--images", short, "--model", model_dir, "--out", os.path.join(args.work, "warm.npy"),
             "--batch-size", "32", "--threads", str(threads), "--precision", precision], env)

    outputs = {}
    loads = []

    def loadavg():
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])

    for r in range(args.rounds):
        before = loadavg()
        if not args.no_torch:
            with torch.inference_mode():
                sample("torch_fp32", model_only(lambda: ref.get_image_features(pixel_values=x)))
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    sample("torch_bf16", model_only(lambda: ref.get_image_features(pixel_values=x)))
        # OpenVINO and adaneg interleaved per precision, so each ratio's two sides run back to back.
        for precision, hint in (("fp32", "f32"), ("bf16", "bf16")):
            if compiled:
                sample(f"openvino_{hint}", model_only(lambda: compiled[hint](xn)))
            out = os.path.join(args.work, f"features-{precision}.npy")
            base = ["--model", model_dir, "--out", out, "--batch-size", "32", "--threads", str(threads), "--precision", precision]
            ts, _ = run([args.adaneg, "embed-images", "--images", short] + base, env)
            tl, _ = run([args.adaneg, "embed-images", "--images", long] + base, env)
            sample(f"adaneg_{precision}", marginal / (tl - ts))
            outputs[precision] = np.load(out)
            for variant in args.variant:
                label, _, settings = variant.partition(":")
                venv = dict(env, **dict(item.split("=", 1) for item in settings.split(",") if item))
                ts, _ = run([args.adaneg, "embed-images", "--images", short] + base, venv)
                tl, _ = run([args.adaneg, "embed-images", "--images", long] + base, venv)
                sample(f"adaneg_{label}_{precision}", marginal / (tl - ts))
        after = loadavg()
        loads.append((before, after))
        flag = " (loaded: left out)" if max(before, after) > args.max_load else ""
        print(f"round {r + 1}: load {before:.2f} -> {after:.2f}{flag}: " + ", ".join(f"{k} {v[-1]:.2f}" for k, v in samples.items()), flush=True)

    quiet = [i for i, (b, a) in enumerate(loads) if max(b, a) <= args.max_load]
    if not quiet:
        print(f"no round below load {args.max_load}: medians over all rounds (all loaded)", flush=True)
        quiet = list(range(len(loads)))
    all_samples = samples
    samples = {k: [v[i] for i in quiet] for k, v in samples.items()}

    a, b = outputs["fp32"], outputs["bf16"]
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))

    def ratio(num, den):
        return median([n / d for n, d in zip(samples[num], samples[den])])

    rows = [("adaneg bf16 / adaneg fp32, end to end", ratio("adaneg_bf16", "adaneg_fp32"), "")]
    if compiled:
        rows += [
            ("adaneg bf16, end to end / OpenVINO bf16, model only", ratio("adaneg_bf16", "openvino_bf16"), "≥ 0.9"),
            ("adaneg fp32, end to end / OpenVINO f32, model only", ratio("adaneg_fp32", "openvino_f32"), "≥ 0.95"),
        ]
    if not args.no_torch:
        rows += [
            ("adaneg bf16, end to end / torch bf16 autocast, model only", ratio("adaneg_bf16", "torch_bf16"), "≥ 1.0 (16-core Xeon)"),
            ("adaneg fp32, end to end / torch fp32, model only", ratio("adaneg_fp32", "torch_fp32"), "≥ 1.1 (16-core Xeon)"),
        ]
    negmining = []
    if args.negmining:
        classes = os.path.join(ROOT, "data", "imagenet-1k-classes.txt")
        for precision in ("fp32", "bf16"):
            out = os.path.join(args.work, f"negatives-{precision}")
            subprocess.run(["rm", "-rf", out])
            t, p = run([args.adaneg, "mine-negatives", "--model", model_dir, "--classes", classes, "--out", out,
                        "--precision", precision], env)
            negmining.append((precision, t))
            print(f"mine-negatives ImageNet {precision}: {t:.1f} s", flush=True)

    cpu = subprocess.run([args.adaneg, "doctor", "--seconds", "0"], capture_output=True, text=True, env=env).stdout
    lines = [
        "# CPU precision benchmark (bench/cpu/precision.py)",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, {threads} threads everywhere; torch {torch.__version__}, "
        f"OpenVINO {ov.__version__ if ov else 'not installed'}; {args.rounds} rounds, medians (ratios: medians of per-round ratios).",
        "ViT-B/16 architecture with random weights; synthetic JPEGs (500x375 .. 640x480); batch 32. adaneg is timed end "
        f"to end from JPEG files (marginal rate over {marginal} images), torch and OpenVINO on preprocessed tensors (model only).",
        "",
        "| images/s | fp32 | bf16 |",
        "|---|---|---|",
        f"| adaneg `embed-images`, end to end | {median(samples['adaneg_fp32']):.2f} | {median(samples['adaneg_bf16']):.2f} |",
    ] + ([f"| OpenVINO, model only | {median(samples['openvino_f32']):.2f} | {median(samples['openvino_bf16']):.2f} |"]
         if compiled else []) + [
    ] + ([] if args.no_torch else [
        f"| torch, model only (bf16: autocast) | {median(samples['torch_fp32']):.2f} | {median(samples['torch_bf16']):.2f} |"]) + [
        "",
        "| ratio | measured | target |",
        "|---|---|---|",
    ] + [f"| {name} | {value:.2f}x | {target} |" for name, value, target in rows] + [
        "",
        f"bf16 vs fp32 feature cosine over {len(cos)} images: min {cos.min():.6f}, mean {cos.mean():.6f}.",
    ]
    if negmining:
        lines += ["", "NegMining for ImageNet (1,000 classes, WordNet candidates, 10,000 negatives), wall time of `mine-negatives`: "
                  + ", ".join(f"{p} {t:.1f} s" for p, t in negmining) + "."]
    for variant in args.variant:
        label = variant.partition(":")[0]
        lines += [f"Variant `{variant}` (same rounds): fp32 {median(samples[f'adaneg_{label}_fp32']):.2f} img/s "
                  f"({ratio(f'adaneg_{label}_fp32', 'adaneg_fp32'):.2f}x the default), bf16 {median(samples[f'adaneg_{label}_bf16']):.2f} img/s "
                  f"({ratio(f'adaneg_{label}_bf16', 'adaneg_bf16'):.2f}x)."]
    lines += ["", f"Rounds in the medians (1-minute load ≤ {args.max_load} before and after): "
              + ", ".join(str(i + 1) for i in quiet) + f" of {len(loads)}.",
              "Load per round (before -> after): " + "; ".join(f"{b:.2f} -> {a:.2f}" for b, a in loads) + ".",
              "Per round: " + "; ".join(f"{k}: " + ", ".join(f"{v:.2f}" for v in vs) for k, vs in all_samples.items()) + ".",
              "", "`adaneg doctor` on the machine:", "", "```", cpu.strip(), "```", ""]
    text = "\n".join(lines)
    print(text)
    with open(args.results, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
