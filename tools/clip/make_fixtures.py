#!/usr/bin/env python3
"""Builds the CLIP test fixtures in Tests/CLIPTests/Fixtures (never needed by `swift test`).

Run from the repository root with the venv described in tools/clip/README.md:

    .venv-clip/bin/python tools/clip/make_fixtures.py

Everything is deterministic (fixed seeds). Outputs:

- tokenizer/vocab.json.gz, tokenizer/merges.txt.gz: the real CLIP BPE vocabulary in the Hugging Face
  layout, converted from open_clip's bpe_simple_vocab_16e6.txt.gz.
- tokens.json: a few hundred strings and the ids OpenAI's tokenizer gives them (open_clip's
  SimpleTokenizer; literal special-token strings follow OpenAI's `<|startoftext|>`/`<|endoftext|>`).
- models/<name>/config.json + model.safetensors.gz: tiny random-weight CLIP models with the real
  architecture, saved with save_pretrained; token-embedding rows not used by the test prompts are
  zero so the gzipped checkpoints stay small.
- models/<name>/expected.json: normalised get_text_features/get_image_features outputs.
- images/*: test images in every colour mode; pixels/*.npy: torchvision-on-Pillow preprocessing.
"""
import gzip
import html
import json
import os
import shutil
import sys

import numpy as np
import torch
from PIL import Image, ImageDraw

# PyPI's torchvision wheel is built against CUDA torch; its compiled operators (nms, roi_align, ...)
# cannot load next to the CPU torch wheel. The transforms used here are pure Python on Pillow, so skip
# the registration of the compiled operators' meta kernels.
import types
sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
from torchvision import transforms as T  # noqa: E402

import open_clip
from open_clip.tokenizer import SimpleTokenizer, bytes_to_unicode, default_bpe
from transformers import CLIPConfig, CLIPModel

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIX = os.path.join(ROOT, "Tests", "CLIPTests", "Fixtures")
MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)


# MARK: tokenizer files

def write_gz(path, data: bytes):
    # mtime=0 keeps the bytes reproducible
    with open(path, "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=9) as f:
            f.write(data)


def make_vocab():
    merges = gzip.open(default_bpe()).read().decode("utf-8").split("\n")
    merges = merges[1:49152 - 256 - 2 + 1]
    vocab = list(bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab]
    for m in merges:
        vocab.append("".join(m.split()))
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    encoder = {v: i for i, v in enumerate(vocab)}
    os.makedirs(os.path.join(FIX, "tokenizer"), exist_ok=True)
    write_gz(os.path.join(FIX, "tokenizer", "vocab.json.gz"),
             json.dumps(encoder, ensure_ascii=False).encode("utf-8"))
    write_gz(os.path.join(FIX, "tokenizer", "merges.txt.gz"),
             ("#version: 0.2\n" + "\n".join(merges) + "\n").encode("utf-8"))
    return encoder


class OpenAITokenizer(SimpleTokenizer):
    """open_clip's SimpleTokenizer with OpenAI's special-token spelling (`<|endoftext|>`)."""

    def __init__(self):
        super().__init__()
        import regex as re
        sot, eot = self.sot_token_id, self.eot_token_id
        self.encoder["<|startoftext|>"] = sot
        self.encoder["<|endoftext|>"] = eot
        self.cache = {"<|startoftext|>": "<|startoftext|>", "<|endoftext|>": "<|endoftext|>"}
        self.pat = re.compile(
            r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
            re.IGNORECASE)

    def ids(self, text, context_length=77):
        tokens = [self.sot_token_id] + self.encode(text) + [self.eot_token_id]
        if len(tokens) > context_length:
            tokens = tokens[:context_length]
            tokens[-1] = self.eot_token_id
        return tokens


def token_strings():
    classes = [l.strip() for l in open(os.path.join(ROOT, "data", "imagenet-1k-classes.txt")) if l.strip()]
    out = []
    out += classes[::5]  # 200 real class names
    out += ["a photo of a " + c + "." for c in classes[1::97]]
    out += [
        "", " ", "   \t\n  ", "a", "A", "Hello, World!", "HELLO world", "it's", "IT'S", "they're here",
        "we've", "I'm", "you'll", "he'd", "don't", "can't", "o'clock", "rock 'n' roll", "'s'", "''",
        "a photo of a cat.", "a blurry photo of the dog...", "a photo of a (large) bird?!",
        "3.14159", "1234567890", "year 2024", "v1.2.3-beta", "100% sure", "$5.99", "#hashtag @user",
        "e-mail: someone@example.com", "http://example.com/path?q=1&x=2", "C++ and C#",
        "café", "naïve résumé", "Ångström", "über straße", "São Paulo", "Zürich", "Ελληνικά", "русский текст",
        "日本語のテキスト", "中文字符", "한국어", "עברית", "العربية", "हिन्दी", "ไทย",
        "emoji 😀🎉👍🏽", "👨‍👩‍👧‍👦 family", "❤️", "🐶 dog", "☃ snowman", "♠♥♦♣",
        "&amp; &lt; &gt; &quot; &#39;", "Tom &amp; Jerry", "&eacute;t&eacute;", "&#x263A; smile", "&#9731;",
        "a &copy 2024", "&notanentity; here", "&amp;amp;", "&AMP;", "&EACUTE;", "&nbsp;x&nbsp;",
        "x &lt;b&gt; y", "<b>bold</b> text", "a < b > c", "fish &amp; chips <tag>",
        "\u201ccurly quotes\u201d and \u2018single\u2019", "it\u2019s a dog", "\u00abguillemets\u00bb",
        "ﬁsh ﬂour ﬀ", "ＬＯＵＤ　ＮＯＩＳＥＳ", "ｶﾀｶﾅ", "full\u3000width space",
        "tab\tseparated\twords", "new\nline", "carriage\r\nreturn", "non\u00a0breaking", "zero\u200bwidth",
        "soft\u00adhyphen", "line\u2028sep", "control\x07char", "bom\ufeffhere", "nul\x00x", "del\x7fx",
        "c1 \x85 \x93quoted\x94", "ansi \x1b[31mred\x1b[0m",
        "<|endoftext|>", "a <|startoftext|> b", "before <|endoftext|> after", "<|ENDOFTEXT|>",
        "<start_of_text>", "<end_of_text>",
        "--- ... !!! ??? ,,, ;;", "a.b.c", "x_y_z", "snake_case_name", "CamelCaseName", "mixed123abc456",
        "½ ¼ ² ³ ⅔", "Ⅻ roman", "١٢٣ arabic digits", "٣.١٤",
        "supercalifragilisticexpialidocious", "pneumonoultramicroscopicsilicovolcanoconiosis",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "the the the the",
        "İstanbul", "ΣΊΣΥΦΟΣ", "ß ẞ", "ǅ ǆ", "ﬃ",
    ]
    out.append(" ".join(["word"] * 100))
    out.append("a photo of " + ", ".join(classes[:60]))
    out.append("0123456789" * 12)
    out.append("😀" * 80)
    return out


# MARK: models

def used_token_ids(tok, prompts):
    used = set()
    for p in prompts:
        used.update(tok.ids(p))
    return used


EMBED_PROMPTS = [
    "a photo of a cat.", "a photo of a dog.", "goldfish", "great white shark", "a photo of a tench, a type of fish.",
    "an origami crane", "a sketch of a hammerhead shark", "it's a bad photo of the tiger shark!",
    "", "café au lait", "😀 emoji", "Tom &amp; Jerry", "x", "a photo of a " + "very " * 80 + "big dog",
    "before <|endoftext|> after", "\u201cquoted\u201d text", "1 2 3 4 5 6 7 8 9 10",
]


def make_model(name, *, patch, image_size, vision_hidden, vision_layers, vision_heads, vision_mlp,
               text_hidden, text_layers, text_heads, text_mlp, act, dtype, seed, eos, used, projection=32):
    torch.manual_seed(seed)
    cfg = CLIPConfig(
        text_config=dict(hidden_size=text_hidden, intermediate_size=text_mlp, num_hidden_layers=text_layers,
                         num_attention_heads=text_heads, hidden_act=act, vocab_size=49408,
                         max_position_embeddings=77, eos_token_id=eos, bos_token_id=49406 if eos != 2 else 0,
                         pad_token_id=1, layer_norm_eps=1e-5),
        vision_config=dict(hidden_size=vision_hidden, intermediate_size=vision_mlp,
                           num_hidden_layers=vision_layers, num_attention_heads=vision_heads,
                           image_size=image_size, patch_size=patch, hidden_act=act, layer_norm_eps=1e-5),
        projection_dim=projection,
    )
    model = CLIPModel(cfg).eval()
    with torch.no_grad():
        # Make every parameter non-trivial (default init leaves biases at 0 and norms at 1).
        for pname, p in model.named_parameters():
            if pname.endswith("bias") or "layer_norm" in pname or "layrnorm" in pname or "layernorm" in pname:
                p.add_(torch.randn_like(p) * 0.1)
        emb = model.text_model.embeddings.token_embedding.weight
        mask = torch.zeros(emb.shape[0], dtype=torch.bool)
        mask[sorted(used)] = True
        emb[~mask] = 0
    out = os.path.join(FIX, "models", name)
    shutil.rmtree(out, ignore_errors=True)
    tmp = out + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.to(dtype).save_pretrained(tmp, safe_serialization=True)
    os.makedirs(out)
    shutil.copy(os.path.join(tmp, "config.json"), os.path.join(out, "config.json"))
    write_gz(os.path.join(out, "model.safetensors.gz"), open(os.path.join(tmp, "model.safetensors"), "rb").read())
    # The reference: the saved checkpoint reloaded in float32, as a user would load it.
    ref = CLIPModel.from_pretrained(tmp, dtype=torch.float32, attn_implementation="eager").eval()
    shutil.rmtree(tmp)
    return out, ref


def text_features(ref, tok, prompts):
    ids = torch.zeros(len(prompts), 77, dtype=torch.long)
    for i, p in enumerate(prompts):
        t = tok.ids(p)
        ids[i, :len(t)] = torch.tensor(t)
    with torch.no_grad():
        f = ref.get_text_features(input_ids=ids)
        if not torch.is_tensor(f):
            f = f.pooler_output
    return torch.nn.functional.normalize(f, dim=-1).numpy()


def image_features(ref, pixels):
    with torch.no_grad():
        f = ref.get_image_features(pixel_values=pixels)
        if not torch.is_tensor(f):
            f = f.pooler_output
    return torch.nn.functional.normalize(f, dim=-1).numpy()


# MARK: images

def smooth_field(rng, h, w, c, scale):
    small = rng.random((max(2, h // scale), max(2, w // scale), c))
    im = Image.fromarray((small * 255).astype(np.uint8).squeeze()).resize((w, h), Image.BICUBIC)
    return np.asarray(im).astype(np.float32)


def photo(rng, w, h):
    base = smooth_field(rng, h, w, 3, 24) * 0.7 + smooth_field(rng, h, w, 3, 6) * 0.3
    base += rng.normal(0, 6, base.shape)
    return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")


def drawing(rng, w, h, mode="RGB"):
    im = Image.new("RGB", (w, h), (250, 248, 240))
    d = ImageDraw.Draw(im)
    for _ in range(25):
        x0, y0 = rng.integers(0, w), rng.integers(0, h)
        x1, y1 = rng.integers(0, w), rng.integers(0, h)
        col = tuple(int(v) for v in rng.integers(0, 255, 3))
        kind = rng.integers(0, 3)
        box = [min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)]
        if kind == 0:
            d.line([x0, y0, x1, y1], fill=col, width=int(rng.integers(1, 5)))
        elif kind == 1:
            d.rectangle(box, outline=col, width=2)
        else:
            d.ellipse(box, fill=col)
    d.text((5, 5), "CLIP test", fill=(0, 0, 0))
    return im


def make_images():
    rng = np.random.default_rng(7)
    d = os.path.join(FIX, "images")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    items = []

    def save(name, im, **kw):
        im.save(os.path.join(d, name), **kw)
        items.append(name)

    p = photo(rng, 320, 240)
    save("photo.jpg", p, quality=90)
    save("photo_444.jpg", photo(rng, 201, 153), quality=95, subsampling=0)
    save("photo_progressive.jpg", photo(rng, 250, 250), quality=85, progressive=True)
    save("photo_grey.jpg", photo(rng, 180, 240).convert("L"), quality=90)
    save("photo_cmyk.jpg", photo(rng, 160, 120).convert("CMYK"), quality=92)
    save("photo_tall.jpg", photo(rng, 90, 300), quality=90)
    save("drawing.png", drawing(rng, 300, 200))
    dr = drawing(rng, 333, 257)
    save("drawing_odd.png", dr)
    save("drawing_interlaced.png", drawing(rng, 127, 129), interlace=1)
    rgba = drawing(rng, 200, 150).convert("RGBA")
    a = np.asarray(rgba).copy()
    a[..., 3] = np.linspace(0, 255, a.shape[1]).astype(np.uint8)[None, :]
    save("drawing_rgba.png", Image.fromarray(a, "RGBA"))
    save("drawing_grey.png", drawing(rng, 150, 100).convert("L"))
    la = np.stack([np.asarray(drawing(rng, 120, 90).convert("L")), rng.integers(0, 255, (90, 120)).astype(np.uint8)], -1)
    save("drawing_la.png", Image.fromarray(la, "LA"))
    save("drawing_palette.png", drawing(rng, 180, 120).convert("P", palette=Image.ADAPTIVE, colors=32))
    pt = drawing(rng, 140, 100).convert("P", palette=Image.ADAPTIVE, colors=16)
    save("drawing_palette_trns.png", pt, transparency=3, bits=4)
    save("drawing_1bit.png", drawing(rng, 100, 70).convert("1"))
    g16 = (smooth_field(rng, 80, 100, 1, 8)[..., 0] if False else None)
    g16 = np.clip(rng.normal(200, 120, (80, 100)), 0, 65535).astype(np.uint16)  # values straddle 255
    save("grey16.png", Image.fromarray(g16))
    # 16-bit RGB and RGBA through raw PNG writing (Pillow cannot save them directly)
    rgb16 = (np.asarray(photo(rng, 96, 64)).astype(np.uint16) * 257 + rng.integers(0, 256, (64, 96, 3))).astype(np.uint16)
    write_png16(os.path.join(d, "rgb16.png"), rgb16, color_type=2)
    items.append("rgb16.png")
    rgba16 = np.concatenate([rgb16[:48, :80], (rng.integers(0, 65535, (48, 80, 1))).astype(np.uint16)], -1)
    write_png16(os.path.join(d, "rgba16.png"), rgba16, color_type=6)
    items.append("rgba16.png")
    save("tiny_1x1.png", Image.new("RGB", (1, 1), (200, 30, 60)))
    save("tiny_3x2.jpg", photo(rng, 3, 2), quality=95)
    save("tiny_5x7.png", photo(rng, 5, 7))
    save("wide.jpg", photo(rng, 1200, 18), quality=90)
    save("wide.png", drawing(rng, 1000, 9))
    save("tall.png", drawing(rng, 12, 700))
    return items


def write_png16(path, arr, color_type):
    import struct
    import zlib
    h, w = arr.shape[:2]
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))

    def chunk(t, data):
        return struct.pack(">I", len(data)) + t + data + struct.pack(">I", zlib.crc32(t + data) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    open(path, "wb").write(png)


def preprocess(path, resize, crop):
    """OpenAI CLIP / OpenOOD: convert RGB, Resize(shorter side, bicubic on Pillow), CenterCrop, ToTensor, Normalize."""
    tf = T.Compose([
        T.Resize(resize, interpolation=T.InterpolationMode.BICUBIC),
        T.CenterCrop(crop),
        T.ToTensor(),
        T.Normalize(MEAN, STD),
    ])
    with Image.open(path) as im:
        return tf(im.convert("RGB"))


def main():
    encoder = make_vocab()
    tok = OpenAITokenizer()
    plain = SimpleTokenizer()
    # sanity: our vocabulary files agree with open_clip's encoder
    for k, v in plain.encoder.items():
        if k not in ("<start_of_text>", "<end_of_text>"):
            assert encoder[k] == v, k

    # tokens
    strings = token_strings()
    cases = []
    for s in strings:
        ids = tok.ids(s)
        if "<|" not in s.lower() and "_of_text>" not in s.lower():
            # identical to open_clip's tokenizer whenever no literal special token is involved
            ref = plain(s)[0].tolist()
            assert ref[:len(ids)] == ids and all(x == 0 for x in ref[len(ids):]), s
        cases.append({"text": s, "ids": ids})
    json.dump(cases, open(os.path.join(FIX, "tokens.json"), "w"), ensure_ascii=True, indent=0)
    print(f"tokens: {len(cases)} strings")

    # images and preprocessed pixels
    images = make_images()
    pix = os.path.join(FIX, "pixels")
    shutil.rmtree(pix, ignore_errors=True)
    os.makedirs(pix)
    pixel_cases = []
    for name in images:
        sizes = [(56, 56), (64, 56)]
        if name in ("photo.jpg", "drawing_odd.png"):
            sizes.append((40, 56))  # crop larger than the resized image: zero padding
        for r, c in sizes:
            t = preprocess(os.path.join(FIX, "images", name), r, c)
            fname = f"{name.replace('.', '_')}_{r}_{c}.npy"
            np.save(os.path.join(pix, fname), t.numpy().reshape(3, -1).astype(np.float32))
            pixel_cases.append({"image": name, "resize": r, "crop": c, "pixels": fname})
    json.dump(pixel_cases, open(os.path.join(FIX, "pixels.json"), "w"), indent=1)
    print(f"pixels: {len(pixel_cases)} cases over {len(images)} images")

    # models
    used = used_token_ids(tok, EMBED_PROMPTS)
    specs = [
        dict(name="tiny-p32-quickgelu-fp32", patch=32, image_size=224, vision_hidden=48, vision_layers=2,
             vision_heads=4, vision_mlp=96, text_hidden=48, text_layers=2, text_heads=4, text_mlp=96,
             act="quick_gelu", dtype=torch.float32, seed=1, eos=2),
        dict(name="tiny-p16-gelu-fp16", patch=16, image_size=112, vision_hidden=64, vision_layers=3,
             vision_heads=4, vision_mlp=128, text_hidden=64, text_layers=3, text_heads=8, text_mlp=160,
             act="gelu", dtype=torch.float16, seed=2, eos=49407),
        dict(name="tiny-p32-gelu-bf16", patch=32, image_size=96, vision_hidden=32, vision_layers=2,
             vision_heads=2, vision_mlp=64, text_hidden=32, text_layers=2, text_heads=2, text_mlp=64,
             act="gelu", dtype=torch.bfloat16, seed=3, eos=49407, projection=24),
    ]
    e2e_images = ["photo.jpg", "drawing_odd.png", "photo_cmyk.jpg", "wide.jpg", "drawing_palette_trns.png"]
    for spec in specs:
        name = spec.pop("name")
        out, ref = make_model(name, used=used, **spec)
        size = spec["image_size"]
        pixels = torch.stack([preprocess(os.path.join(FIX, "images", n), size, size) for n in e2e_images])
        expected = {
            "prompts": EMBED_PROMPTS,
            "text_features": text_features(ref, tok, EMBED_PROMPTS).tolist(),
            "images": e2e_images,
            "image_features": image_features(ref, pixels).tolist(),
            "logit_scale": float(ref.logit_scale.item()),
        }
        if name == "tiny-p16-gelu-fp16":
            np.save(os.path.join(out, "pixels_photo.npy"), pixels[0].numpy().reshape(3, -1))
        json.dump(expected, open(os.path.join(out, "expected.json"), "w"))
        print(f"model {name}: done")


if __name__ == "__main__":
    main()
