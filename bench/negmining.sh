#!/usr/bin/env bash
# The text side of an ImageNet job: 1,000 ID prompts + ~73,000 WordNet candidates through
# `adaneg mine-negatives` with the ViT-B/16 text tower (random weights: the arithmetic is the
# same), against transformers encoding the same kind of prompts padded to 77 tokens.
#
#   MODEL=/path/to/vit-b16 bash bench/negmining.sh
#
# MODEL is a Hugging Face CLIP directory (bench/clip/make_model.py writes a random ViT-B/16 one
# with the real vocabulary). The torch side needs the venv of tools/clip (.venv-clip).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON_ROOT=${PYTHON_ROOT:-$ROOT}
MODEL=${MODEL:?set MODEL to a CLIP model directory}
SCRATCH=${SCRATCH:-.build}
WORK=${WORK:-$(mktemp -d)}
mkdir -p "$WORK"
swift build -c release --scratch-path "$SCRATCH" --product adaneg >/dev/null
BIN=$ROOT/$SCRATCH/release/adaneg

/usr/bin/time -f '%e %M' -o "$WORK/time" "$BIN" mine-negatives --model "$MODEL" \
  --classes data/imagenet-1k-classes.txt --out "$WORK/negatives" 2>"$WORK/log" >/dev/null
read -r SECONDS_USED RSS_KB < "$WORK/time"
CANDIDATES=$(grep -o 'after removing[^:]*: [0-9]* nouns, [0-9]* adjectives' "$WORK/log" | grep -o '[0-9]* nouns, [0-9]* adjectives' | awk '{print $1 + $3}')
PROMPTS=$((CANDIDATES + 1000))   # candidates and ID prompts (the chosen negatives' features are kept from the η pass)

# the same kind of prompts for torch
cut -f1,2 "$WORK/negatives/negatives.tsv" | tail -n +2 | awk -F'\t' '{ if ($2 == "adj") print "This is a " $1 " photo."; else print "The nice " $1 "." }' > "$WORK/prompts.txt"
TORCH=$("$PYTHON_ROOT/.venv-clip/bin/python" bench/negmining_torch.py "$MODEL" "$WORK/prompts.txt" --count 1024)
TORCH_RATE=$(echo "$TORCH" | python3 -c 'import json,sys; print("%.1f" % json.load(sys.stdin)["prompts_per_second"])')
python3 - "$SECONDS_USED" "$RSS_KB" "$PROMPTS" "$TORCH_RATE" <<'PY'
import sys
seconds, rss_kb, prompts, torch_rate = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
rate = prompts / seconds
print("| measurement | result | target |")
print("|---|---|---|")
print(f"| ImageNet mining wall time (1,000 ID + candidates) | {seconds / 60:.1f} min | < 15 min |")
print(f"| prompts/s, adaneg (whole command) | {rate:.0f} | |")
print(f"| prompts/s, transformers padded to 77 (1,024 prompts) | {torch_rate:.1f} | |")
print(f"| ratio | {rate / torch_rate:.1f}x | >= 8x |")
print(f"| peak memory | {rss_kb / 1024:.0f} MB | < 2 GB |")
PY
