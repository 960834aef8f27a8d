"""NegMining selection (docs/algorithm.md, "Labels and negatives") in numpy, for the Swift fixtures.

Writes Tests/NegMiningTests/Fixtures/selection.json: ID, noun and adjective features
(float32, L2-normalised), each candidate's eta (95th-percentile similarity to the ID
features, the element at index floor(0.95*C) of the ascending sort) and the selection
for M negatives (adjectives first, each part in ascending eta, stable on ties).
"""
import json
import pathlib

import numpy as np


def etas(candidates, ids):
    sims = candidates @ ids.T
    c = ids.shape[0]
    return np.sort(sims, axis=1)[:, int(np.floor(0.95 * c))]


def select(m, noun_eta, adj_eta):
    total = len(noun_eta) + len(adj_eta)
    a = min(int(np.floor(m * len(adj_eta) / total)), len(adj_eta))
    n = min(m - a, len(noun_eta))
    adj = np.argsort(adj_eta, kind="stable")[:a]
    noun = np.argsort(noun_eta, kind="stable")[:n]
    return adj.tolist(), noun.tolist()


def unit(rng, rows, dim, shift):
    x = rng.standard_normal((rows, dim)).astype(np.float32) + shift
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def main():
    rng = np.random.default_rng(11)
    dim = 16
    shared = rng.standard_normal(dim).astype(np.float32)
    ids = unit(rng, 37, dim, 0.6 * shared)
    nouns = unit(rng, 60, dim, rng.uniform(-0.8, 0.8, (60, 1)).astype(np.float32) * shared)
    adjs = unit(rng, 25, dim, rng.uniform(-0.8, 0.8, (25, 1)).astype(np.float32) * shared)
    noun_eta, adj_eta = etas(nouns, ids), etas(adjs, ids)
    adj_sel, noun_sel = select(30, noun_eta, adj_eta)
    out = {
        "m": 30,
        "id": ids.tolist(), "nouns": nouns.tolist(), "adjectives": adjs.tolist(),
        "noun_eta": noun_eta.astype(float).tolist(), "adjective_eta": adj_eta.astype(float).tolist(),
        "selected_adjectives": adj_sel, "selected_nouns": noun_sel,
    }
    path = pathlib.Path(__file__).resolve().parents[2] / "Tests/NegMiningTests/Fixtures/selection.json"
    path.write_text(json.dumps(out))
    print(f"wrote {path}: {len(adj_sel)} adjectives, {len(noun_sel)} nouns selected")


if __name__ == "__main__":
    main()
