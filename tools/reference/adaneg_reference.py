"""Independent numpy reference for the AdaNeg scorer (see docs/algorithm.md).

This is a deliberately plain, per-batch transcription of docs/algorithm.md ("Inputs" and "One batch")
(plus the AdaGap variant). Everything is float32, like the torch reference. It is slow on
purpose in places (Python loops over gate decisions, literal memory array, direct
materialisation of sample-adaptive proxies) so that it is easy to check by reading.

Data layout (mirrors the description, not any Swift data structure):
  memory   float32 (C+M, 1+L, D): slot 0 = text feature, other slots zeros until written
  counter  int     (C+M,)       : starts at 1; the next free slot; the row is full at L
                                   (so a row caches at most L-1 image features)
  entropy  float32 (C+M, 1+L)   : priority of each slot (0 for never-written slots)
  stamp    int64   (C+M, 1+L)   : stream position of the sample written into each slot
                                   (-1 = never written); used only to break entropy ties

Public entry point: score_stream(...). See its docstring.
"""

from __future__ import annotations

from collections import deque

import numpy as np

F32 = np.float32

IN_SCORES = ("adaonly", "vanillaonly", "combine", "multiply")
PROXIES = ("task", "sample")
REPLACEMENTS = ("entropy", "first")
VARIANTS = ("noadagap", "adagap")

ADAGAP_WINDOW = 10000
ADAGAP_SEED_PAIRS = 100  # window starts as [1, 0] * 100


# --------------------------------------------------------------------------------------
# small float32 helpers
# --------------------------------------------------------------------------------------

def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, float32."""
    x = np.asarray(x, dtype=F32)
    m = x.max(axis=-1, keepdims=True)
    e = np.exp(x - m)
    return (e / e.sum(axis=-1, keepdims=True)).astype(F32)


def entropy(p: np.ndarray) -> np.float32:
    """H = -sum p * log(p + 1e-8), float32 (p is a 1-D probability vector)."""
    p = np.asarray(p, dtype=F32)
    return F32(-(p * np.log(p + F32(1e-8))).sum(dtype=F32))


def normalise_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=F32)
    n = np.sqrt((x * x).sum(axis=-1, keepdims=True, dtype=F32))
    return (x / n).astype(F32)


def grouped_score(z: np.ndarray, num_id: int, groups: int, perm) -> np.ndarray:
    """Grouped negative-label score S(z) for a batch of logits z (B, C+M), float32.

    Negative columns C..C+M-1; drop the last M mod G; permute the kept M' columns
    (new column j = old kept column perm[j]); split into G consecutive groups; for each
    group softmax over [ID logits, group logits] and sum the ID part; mean over groups.
    """
    z = np.asarray(z, dtype=F32)
    pos = z[:, :num_id]
    neg = z[:, num_id:]
    m = neg.shape[1]
    drop = m % groups
    if drop > 0:
        neg = neg[:, : m - drop]
    if perm is not None:
        neg = neg[:, np.asarray(perm, dtype=np.int64)]
    per = neg.shape[1] // groups
    scores = np.zeros((z.shape[0], groups), dtype=F32)
    for g in range(groups):
        full = np.concatenate([pos, neg[:, g * per:(g + 1) * per]], axis=1)
        p = softmax(full)
        scores[:, g] = p[:, :num_id].sum(axis=1, dtype=F32)
    return scores.mean(axis=1, dtype=F32).astype(F32)


# --------------------------------------------------------------------------------------
# the memory bank
# --------------------------------------------------------------------------------------

class Bank:
    def __init__(self, text: np.ndarray, memleng: int, replacement: str):
        n_rows, dim = text.shape
        self.L = int(memleng)
        self.replacement = replacement
        self.memory = np.zeros((n_rows, 1 + self.L, dim), dtype=F32)
        self.memory[:, 0, :] = text
        self.counter = np.ones(n_rows, dtype=np.int64)
        self.entropy = np.zeros((n_rows, 1 + self.L), dtype=F32)
        self.stamp = np.full((n_rows, 1 + self.L), -1, dtype=np.int64)
        # statistics (not part of the algorithm)
        self.n_append = 0
        self.n_replace = 0
        self.n_drop = 0
        self.min_entropy_margin = np.inf  # min relative |H - max H in row| over entropy decisions
        self.min_slot_margin = np.inf  # min relative (highest - second highest) at replacements
        self.n_entropy_ties = 0  # replacements where the highest entropy was tied
        self.log = []  # (row, position, entropy) of every insert attempt, for self-checks

    def insert(self, row: int, feature: np.ndarray, h: np.float32, position: int) -> None:
        self.log.append((row, position, float(h)))
        if self.counter[row] < self.L:  # fewer than L-1 cached features: append
            slot = int(self.counter[row])
            self.memory[row, slot] = feature
            self.entropy[row, slot] = h
            self.stamp[row, slot] = position
            self.counter[row] += 1
            self.n_append += 1
            return
        if self.replacement == "first":
            self.n_drop += 1
            return
        # entropy policy: row full. Replace the slot with the highest entropy if the new
        # entropy is strictly lower than it. The never-written slots (text slot 0, and the
        # trailing slot L) hold entropy 0 and can never be the strict maximum above h >= 0;
        # scanning the whole row is what the description says, so do exactly that.
        ent = self.entropy[row]
        hmax = ent.max()
        if len(ent) > 1 and self.L > 1:
            rel = abs(float(hmax) - float(h)) / max(float(hmax), float(h), 1e-30)
            self.min_entropy_margin = min(self.min_entropy_margin, rel)
        if not (h < hmax):
            self.n_drop += 1
            return
        cached = np.sort(ent[1:self.L])
        if len(cached) > 1:
            if cached[-1] == cached[-2]:
                self.n_entropy_ties += 1
            else:
                rel = (float(cached[-1]) - float(cached[-2])) / float(cached[-1])
                self.min_slot_margin = min(self.min_slot_margin, rel)
        candidates = np.nonzero(ent == hmax)[0]
        # ties for the highest: the slot most recently written goes
        slot = int(candidates[np.argmax(self.stamp[row, candidates])])
        assert 1 <= slot < self.L, "replacement must hit a cached slot"
        self.memory[row, slot] = feature
        self.entropy[row, slot] = h
        self.stamp[row, slot] = position
        self.n_replace += 1

    def counts(self) -> np.ndarray:
        """Number of cached image features per row."""
        return (self.counter - 1).astype(np.int64)

    def task_proxies(self) -> np.ndarray:
        """p_k = normalise(mean over the 1+L slots, zeros included)."""
        return normalise_rows(self.memory.mean(axis=1, dtype=F32))


def sample_proxy_logits(v: np.ndarray, memory: np.ndarray, beta_int: int, logit_scale: np.float32,
                        impl: str = "broadcast", budget_bytes: int = 256 << 20,
                        row_chunk: int = 1000) -> np.ndarray:
    """z'_k(v) = s * v . normalise(sum_m exp(-beta (1 - v.m)) m), computed directly.

    The per-sample proxy vectors are materialised chunk by chunk (rows x samples):
      impl="broadcast": the literal (b, R, 1+L, D) weighted tensor, summed over slots;
      impl="matmul":    the same weighted sum as a batched matmul (R, b, 1+L) @ (R, 1+L, D).
    Both form p_k(v) explicitly (no Gram-matrix shortcut).
    """
    v = np.asarray(v, dtype=F32)
    n_rows, slots, dim = memory.shape
    bsz = v.shape[0]
    out = np.empty((bsz, n_rows), dtype=F32)
    nb = F32(-beta_int)
    one = F32(1.0)
    for r0 in range(0, n_rows, row_chunk):
        mem = memory[r0:r0 + row_chunk]  # (R, S, D)
        rlen = mem.shape[0]
        per_sample = rlen * slots * dim * 4 if impl == "broadcast" else rlen * dim * 4 * 2
        sc = max(1, min(bsz, budget_bytes // max(1, per_sample)))
        for b0 in range(0, bsz, sc):
            vb = v[b0:b0 + sc]  # (b, D)
            sim = mem @ vb.T  # (R, S, b)
            w = np.exp(nb * (one - sim)).astype(F32)  # (R, S, b)
            if impl == "broadcast":
                temp = w.transpose(2, 0, 1)[..., None] * mem[None]  # (b, R, S, D)
                p = temp.sum(axis=2, dtype=F32)  # (b, R, D)
                del temp
            elif impl == "matmul":
                p = np.matmul(w.transpose(0, 2, 1), mem).transpose(1, 0, 2)  # (b, R, D)
            else:
                raise ValueError(impl)
            p = p / np.sqrt((p * p).sum(axis=-1, keepdims=True, dtype=F32))
            out[b0:b0 + sc, r0:r0 + rlen] = logit_scale * (vb[:, None, :] * p).sum(axis=-1, dtype=F32)
    return out


# --------------------------------------------------------------------------------------
# the stream
# --------------------------------------------------------------------------------------

def score_stream(image, text, num_id, perm_or_none, batch_size, memleng=10, thres=0.5, gap=0.5,
                 beta=5.0, lam=0.1, groups=5, proxy="task", in_score="combine",
                 replacement="entropy", variant="noadagap", logit_scale=100.0,
                 sample_impl="broadcast", sample_budget_mb=256, max_batches=None, collect_stats=True):
    """Run AdaNeg over a stream of image features.

    image (N, D) and text (C+M, D) are L2-normalised float32. Returns a dict with
      pred (N,) int64, conf (N,) f32, conf_vanilla (N,) f32 (= NegLabel S_nl),
      mcm (N,) f32, bank_counts (C+M,) int64, and "stats" (diagnostics, not outputs).
    sample_impl / sample_budget_mb: how the sample-adaptive proxies are materialised (see
    sample_proxy_logits); both give the same numbers. Only the first max_batches batches are processed when it is given (outputs are then
    the first max_batches*batch_size entries).
    """
    assert proxy in PROXIES and in_score in IN_SCORES
    assert replacement in REPLACEMENTS and variant in VARIANTS
    assert int(memleng) >= 1, "memleng L must be >= 1 (L = 1 caches nothing)"
    image = np.ascontiguousarray(image, dtype=F32)
    text = np.ascontiguousarray(text, dtype=F32)
    n, _ = image.shape
    n_labels = text.shape[0]
    C = int(num_id)
    s = F32(logit_scale)
    lam32 = F32(lam)
    beta_int = int(beta)
    perm = None if perm_or_none is None else np.asarray(perm_or_none, dtype=np.int64)
    if perm is not None:
        m_kept = (n_labels - C) - (n_labels - C) % groups
        assert perm.shape == (m_kept,) and np.array_equal(np.sort(perm), np.arange(m_kept))

    bank = Bank(text, memleng, replacement)
    thr_id_fixed = F32(thres + gap * (1 - thres))
    thr_ood_fixed = F32(thres - gap * thres)

    # AdaGap window of gate decisions (1 = ID-confident, 0 = OOD-confident)
    window = deque()
    pos_count = ADAGAP_SEED_PAIRS
    neg_count = ADAGAP_SEED_PAIRS
    for _ in range(ADAGAP_SEED_PAIRS):
        window.append(1)
        window.append(0)

    n_batches = (n + batch_size - 1) // batch_size
    if max_batches is not None:
        n_batches = min(n_batches, int(max_batches))
    n_out = min(n, n_batches * batch_size)
    pred = np.zeros(n_out, dtype=np.int64)
    conf = np.zeros(n_out, dtype=F32)
    conf_vanilla = np.zeros(n_out, dtype=F32)
    mcm = np.zeros(n_out, dtype=F32)

    st = {"id_gate": 0, "ood_gate": 0, "gate_margin": np.inf, "row_argmax_margin": np.inf,
          "pred_margin": np.inf, "adagap_changed": 0, "ratios": []}

    for b in range(n_batches):
        lo, hi = b * batch_size, min(n, (b + 1) * batch_size)
        v = image[lo:hi]
        z = (s * v) @ text.T  # (B, C+M): logit_scale * image @ text^T
        s_nl = grouped_score(z, C, groups, perm)

        # ---- gates ----
        id_gate = s_nl > thr_id_fixed
        ood_gate = s_nl < thr_ood_fixed
        thr_id, thr_ood = thr_id_fixed, thr_ood_fixed
        if variant == "adagap":
            # push this batch's (fixed-gate) decisions: all ID decisions first, then OOD
            for flag, val in ((id_gate, 1), (ood_gate, 0)):
                for i in range(len(flag)):
                    if flag[i]:
                        if len(window) >= ADAGAP_WINDOW:
                            old = window.popleft()
                            if old == 1:
                                pos_count -= 1
                            else:
                                neg_count -= 1
                        window.append(val)
                        if val == 1:
                            pos_count += 1
                        else:
                            neg_count += 1
            ratio = pos_count / (pos_count + neg_count)  # Python double
            if ratio > 0.5:
                thr_ood = F32(thres - ratio * thres)
            elif ratio < 0.5:
                thr_id = F32(thres + (1 - ratio) * (1 - thres))
            id_gate_new = s_nl > thr_id
            ood_gate_new = s_nl < thr_ood
            st["adagap_changed"] += int((id_gate_new != id_gate).sum() + (ood_gate_new != ood_gate).sum())
            st["ratios"].append(ratio)
            id_gate, ood_gate = id_gate_new, ood_gate_new
        if collect_stats:
            for thr in {float(thr_id_fixed), float(thr_ood_fixed), float(thr_id), float(thr_ood)}:
                st["gate_margin"] = min(st["gate_margin"], float(np.abs(s_nl.astype(np.float64) - thr).min()))

        # ---- bank update: ID-confident samples in batch order, then OOD-confident ----
        for i in range(len(v)):
            if id_gate[i]:
                zi = z[i, :C]
                k = int(np.argmax(zi))
                h = entropy(softmax(zi))
                bank.insert(k, v[i], h, lo + i)
                st["id_gate"] += 1
                if collect_stats:
                    srt = np.sort(zi)
                    st["row_argmax_margin"] = min(st["row_argmax_margin"], float(srt[-1] - srt[-2]))
        for i in range(len(v)):
            if ood_gate[i]:
                zi = z[i, C:]
                k = C + int(np.argmax(zi))
                h = entropy(softmax(zi))
                bank.insert(k, v[i], h, lo + i)
                st["ood_gate"] += 1
                if collect_stats:
                    srt = np.sort(zi)
                    st["row_argmax_margin"] = min(st["row_argmax_margin"], float(srt[-1] - srt[-2]))

        # ---- adaptive logits ----
        if proxy == "task":
            z_ada = (s * v) @ bank.task_proxies().T
        else:
            z_ada = sample_proxy_logits(v, bank.memory, beta_int, s, impl=sample_impl,
                                        budget_bytes=int(sample_budget_mb) << 20)
        s_ada = grouped_score(z_ada, C, groups, perm)

        # ---- prediction ----
        if variant == "noadagap":
            prob_all = softmax(z) + softmax(z_ada) * lam32
            prob_all = prob_all[:, :C]
        else:
            prob_all = softmax(z[:, :C]) + softmax(z_ada[:, :C])
        pred[lo:hi] = np.argmax(prob_all, axis=1)
        if collect_stats and C > 1:
            srt = np.sort(prob_all, axis=1).astype(np.float64)
            rel = (srt[:, -1] - srt[:, -2]) / np.maximum(srt[:, -1], 1e-300)
            st["pred_margin"] = min(st["pred_margin"], float(rel.min()))
            st["pred_top_min"] = min(st.get("pred_top_min", np.inf), float(srt[:, -1].min()))

        # ---- scores ----
        if in_score == "adaonly":
            c = s_ada
        elif in_score == "vanillaonly":
            c = s_nl
        elif in_score == "combine":
            c = s_ada + s_nl * (lam32 if variant == "noadagap" else F32(1.0))
        else:
            c = s_ada * s_nl
        conf[lo:hi] = c
        conf_vanilla[lo:hi] = s_nl
        mcm[lo:hi] = softmax(z[:, :C]).max(axis=1)

    counts = bank.counts()
    st.update({"append": bank.n_append, "replace": bank.n_replace, "drop": bank.n_drop,
               "rows_full": int((bank.counter == bank.L).sum()) if bank.L > 1 else 0,
               "rows_nonempty": int((counts > 0).sum()),
               "entropy_margin": bank.min_entropy_margin, "slot_margin": bank.min_slot_margin,
               "entropy_ties": bank.n_entropy_ties})
    st["insert_log"] = bank.log
    st["final_stamps"] = bank.stamp
    return {"pred": pred, "conf": conf, "conf_vanilla": conf_vanilla, "mcm": mcm,
            "bank_counts": counts, "stats": st}
