"""Score human-labelled pages that no pagescore model was trained on, against the rules baseline.

    .venv/bin/python scripts/external_check.py [--shared ../shared] [--model VERSION]

- DCLM's human quality annotations (crawl/dclm_human_quality_annotations.jsonl, meta.label:
  1 informative / 0 low quality): related to, not the same as, publishability.
- HPLT v2 inspection excerpts (crawl/hplt2_inspection_eng_annotated.jsonl): meta.label_unnatural
  (SEO word lists, mostly boilerplate) as the negative class.
Prints ROC AUC of the model's score and of the rules baseline (pass = 1) on each set.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import polars as pl
from sklearn.metrics import roc_auc_score

from features import FEATURE_NAMES, compute_features
from models.registry import load_model
from models.rules import rules_pass

REPO = Path(__file__).resolve().parent.parent
SETS = {
    "DCLM human quality (label 1 = informative)": (
        "dclm_human_quality_annotations.jsonl", lambda m: int(m["label"])),
    "HPLT v2 inspection (label 1 = not 'unnatural')": (
        "hplt2_inspection_eng_annotated.jsonl", lambda m: int(not m["label_unnatural"])),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    ap.add_argument("--model", default=None)
    args = ap.parse_args()
    loaded = load_model(args.model)
    print(f"model {loaded.version}")
    for name, (file, label) in SETS.items():
        recs = [json.loads(line) for line in (args.shared / "corpus" / "crawl" / file).open()]
        y = np.array([label(r["meta"]) for r in recs])
        feats = compute_features(pl.DataFrame({"text": [r["text"] for r in recs]}))
        score = loaded.model.predict_proba(feats.select(FEATURE_NAMES).to_numpy())
        rules = rules_pass(feats).to_numpy().astype(float)
        print(f"{name}: n={len(y)} positives={int(y.sum())}  ROC AUC model "
              f"{roc_auc_score(y, score):.3f}, rules baseline {roc_auc_score(y, rules):.3f}")


if __name__ == "__main__":
    main()
