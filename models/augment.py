"""Synthetic defects injected into clean labelled pages, for training only.

Real labelled pages rarely show an otherwise good article spoiled by one defect (the seed page's
case), so the classifier would learn "error page = thin page". Each publishable page with enough
text gets one injected defect (error banner, duplicated passage, promotional link block, legal
boilerplate, wall text), labelled 0 with that defect. Augmented rows keep their source page's
group, so cross-validation never splits them from it, and every reported figure is computed on
real pages only (``is_synthetic`` is False).
"""

from __future__ import annotations

import random

import polars as pl

ERROR_BANNERS = (
    "403\nSorry!!\nError! We're sorry, but the page you were looking for doesn't exist.",
    "404 Not Found\nThe requested URL was not found on this server.",
    "Page not found\nThe page you are looking for might have been removed or is temporarily "
    "unavailable.",
    "Oops! That page can't be found.\nIt looks like nothing was found at this location.",
    "Error 503 Service Unavailable\nThe server is temporarily unable to service your request.",
    "Access Denied\nYou don't have permission to access this page on this server.",
    "Seite nicht gefunden\nDie angeforderte Seite existiert nicht mehr.",
    "Erreur 404\nLa page que vous recherchez n'existe pas.",
    "Error 404\nLa página que buscas no existe o ya no está disponible.",
    "Pagina non trovata\nLa pagina che stai cercando non esiste.",
    "Страница не найдена\nЗапрашиваемая страница не существует.",
    "页面不存在\n抱歉，您访问的页面不存在或已被删除。",
    "ページが見つかりません\nお探しのページは存在しません。",
    "Database Error\nError establishing a database connection",
)
WALL_BANNERS = (
    "Please enable JavaScript to view this page.\nChecking your browser before accessing the site.",
    "This website uses cookies.\nAccept all cookies\nManage consent preferences",
    "Subscribe to continue reading\nAlready a subscriber? Please log in to continue.",
    "Verify you are human by completing the action below.\nPerformance & security by Cloudflare",
    "Bitte aktivieren Sie JavaScript.\nWir verwenden Cookies. Alle akzeptieren",
)
DISCLAIMER = (
    "Legal Disclaimer:\nThe publisher provides the information \"as is\" without warranty of any "
    "kind.\nWe do not accept any responsibility or liability for the accuracy, content, images, "
    "videos, licenses, completeness, legality, or reliability of the information contained in "
    "this article.\nIf you have any complaints or copyright issues related to this article, "
    "kindly contact the provider above.\nAll rights reserved. Reproduction in whole or in part "
    "without permission is prohibited.\nTerms of Use | Privacy Policy | Cookie Policy\nShare this "
    "article\nSubscribe to our newsletter\nLeave a comment\nNo comments"
)
# Boilerplate injection is left out: per the rubric a footer disclaimer does not spoil a page,
# and injected disclaimers cost real-page precision in cross-validation (measured, 2026-11-23).
KINDS = ("error", "wall", "duplicated", "spam")
# One synthetic row per 4 eligible pages: 1 in 1 and 1 in 2 cost real-page PR AUC, none at all
# let the seed page (error + duplication + promo block) score as publishable (measured
# 2026-11-24 on grouped folds and scripts/external_check.py).
EVERY = 4
MIN_WORDS = 80


def _lines(text: str) -> list[str]:
    return [ln for ln in text.split("\n") if ln.strip()]


def inject(kind: str, text: str, rng: random.Random, headlines: list[str]) -> str:
    lines = _lines(text)
    if kind == "error":
        banner = rng.choice(ERROR_BANNERS)
        return f"{banner}\n{text}" if rng.random() < 0.8 else f"{text}\n{banner}"
    if kind == "wall":
        keep = "\n".join(lines[: max(1, len(lines) // 4)])
        return f"{rng.choice(WALL_BANNERS)}\n{keep}"
    if kind == "duplicated":
        start = rng.randrange(0, max(1, len(lines) // 2))
        block = lines[start : start + max(2, len(lines) // 2)]
        return "\n".join(lines[: start + len(block)] + block + lines[start + len(block):])
    if kind == "spam":
        promo = rng.sample(headlines, k=min(len(headlines), rng.randint(6, 12)))
        head = rng.choice(("Most popular stories", "Related", "Trending now", "Market Research"))
        bullet = rng.choice(("", "", "- "))
        return text + f"\n{head}\n" + "\n".join(bullet + h for h in promo)
    if kind == "boilerplate":
        keep = "\n".join(lines[: max(1, len(lines) // 5)])
        return f"{keep}\n{DISCLAIMER}\n{DISCLAIMER}" if len(keep) > 1500 else f"{keep}\n{DISCLAIMER}"
    raise ValueError(kind)


def augment(table: pl.DataFrame, seed: int = 0) -> pl.DataFrame:
    """Return synthetic negative rows (same columns plus is_synthetic=True)."""
    rng = random.Random(seed)
    headlines = [
        t for t in table.filter(pl.col("title").str.len_chars().is_between(25, 110))["title"]
        .to_list() if len(t.split()) >= 4
    ]
    clean = table.filter(
        (pl.col("label") == 1) & (pl.col("text").str.count_matches(r"\S+") >= MIN_WORDS)
    )
    rows: list[dict] = []
    for i, rec in enumerate(clean.iter_rows(named=True)):
        if i % EVERY:
            continue
        kind = KINDS[len(rows) % len(KINDS)]
        rows.append({
            **rec,
            "page_id": f"{rec['page_id']}#synthetic-{kind}",
            "text": inject(kind, rec["text"], rng, headlines),
            "label": 0,
            "defects": kind,
            "confidence": "synthetic",
            "is_synthetic": True,
        })
    return pl.DataFrame(rows, schema={**table.schema, "is_synthetic": pl.Boolean})
