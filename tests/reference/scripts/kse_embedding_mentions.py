"""The knowledge engine's text-embedding ablation: which ontology concepts a static embedding
model finds in each labelled question (tests/kse/queries.json), written to
tests/reference/kse_embedding_mentions.json for tests/tests/kse.rs, which runs the search with
these mentions in place of (or beside) the ontology's synonyms and reports hit@1, hit@5 and MRR.

Model: WordLlama 256-d (wordllama 0.4.0.post1 from PyPI; `l2_supercat_256.safetensors`, a static
token-embedding table with the LLaMA-2 tokenizer), loaded from the wheel's files (its own loader
reaches for the Hugging Face hub), mean pooling and L2 normalisation as its `inference.py` does.

Fixed before any run, the same for every question:
- a concept is embedded from its label and its id's words only (the "labels only" lexical
  baseline's inputs; never its synonyms), and matched by the larger cosine of the two;
- candidate spans are the question's runs of 1 to 3 words (words as the Rust `ontology::words`
  cuts them), spans of stop words alone left out;
- a span mentions its nearest concept when the cosine is at least tau; spans are taken greedily,
  highest cosine first, never overlapping;
- tau in {0.5, 0.6, 0.7, 0.8, 0.9}: the Rust test picks it on the dev half and reports the test half.

Run (a venv of its own): python -m venv v && v/bin/pip install wordllama==0.4.0.post1
  v/bin/python tests/reference/scripts/kse_embedding_mentions.py
"""

import json
import os
import re
import sys

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

import wordllama

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..", "..")
TAUS = [0.5, 0.6, 0.7, 0.8, 0.9]
STOP = set(
    "a an the of on in for to did does do what which how our my we us is was were are be been it its this that "
    "these those and or with by from at as any all have has had when after before during since why who there "
    "their them they i me you your not no yes about into than then so if would could should can will".split()
)


def load_model():
    base = os.path.dirname(wordllama.__file__)
    emb = load_file(os.path.join(base, "weights", "l2_supercat_256.safetensors"))["embedding.weight"].astype(np.float32)
    tok = Tokenizer.from_file(os.path.join(base, "tokenizers", "l2_supercat_tokenizer_config.json"))
    return emb, tok


def embed(emb, tok, texts):
    out = []
    for t in texts:
        ids = tok.encode(t, add_special_tokens=False).ids
        v = emb[ids].mean(axis=0) if ids else np.zeros(emb.shape[1], dtype=np.float32)
        n = np.linalg.norm(v)
        out.append(v / n if n > 0 else v)
    return np.stack(out)


def words(text):
    """(word, start byte, end byte) as `ontology::words` cuts them: letters, digits and
    apostrophes, a dot between digits; lower case; quotes trimmed."""
    b = text.encode("utf-8")
    out = []
    for m in re.finditer(rb"[A-Za-z0-9']+(?:\.[0-9]+)*", b):
        raw = m.group(0)
        s, e = m.start(), m.end()
        stripped = raw.strip(b"'")
        if not stripped:
            continue
        s += raw.find(stripped)
        e = s + len(stripped)
        out.append((stripped.decode().lower(), s, e))
    return out


def main():
    onto = json.load(open(os.path.join(ROOT, "shared", "src", "kse", "ontology.json")))
    queries = json.load(open(os.path.join(ROOT, "tests", "kse", "queries.json")))["queries"]
    emb, tok = load_model()
    concepts = onto["concepts"]
    label_vecs = embed(emb, tok, [c["label"] for c in concepts])
    id_vecs = embed(emb, tok, [c["id"].replace("_", " ") for c in concepts])
    out = {"model": "wordllama 0.4.0.post1 l2_supercat_256", "ontology_version": onto["version"], "taus": {}}
    for tau in TAUS:
        per = {}
        for q in queries:
            text = q["query"]
            ws = words(text)
            spans = []
            for n in (1, 2, 3):
                for i in range(len(ws) - n + 1):
                    run = ws[i : i + n]
                    if all(w[0] in STOP for w in run):
                        continue
                    spans.append((run[0][1], run[-1][2]))
            if not spans:
                per[q["id"]] = []
                continue
            texts = [text.encode()[s:e].decode() for s, e in spans]
            v = embed(emb, tok, texts)
            sim = np.maximum(v @ label_vecs.T, v @ id_vecs.T)
            best = sim.argmax(axis=1)
            cands = sorted(
                ((float(sim[k, best[k]]), spans[k], concepts[best[k]]["id"]) for k in range(len(spans))),
                key=lambda x: (-x[0], x[1]),
            )
            taken = []
            for cos, (s, e), cid in cands:
                if cos < tau:
                    break
                if any(not (e <= ts or s >= te) for _, (ts, te), _ in taken):
                    continue
                taken.append((cos, (s, e), cid))
            taken.sort(key=lambda x: x[1][0])
            per[q["id"]] = [
                {"concept": cid, "text": text.encode()[s:e].decode(), "start": s, "end": e, "cosine": round(cos, 4)}
                for cos, (s, e), cid in taken
            ]
        out["taus"][str(tau)] = per
    path = os.path.normpath(os.path.join(ROOT, "tests", "reference", "kse_embedding_mentions.json"))
    with open(path, "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {path}: {len(queries)} questions x {len(TAUS)} thresholds", file=sys.stderr)


if __name__ == "__main__":
    main()
