"""Each feature on small hand-computed texts; Gopher definitions pinned."""

from __future__ import annotations

import math

import polars as pl
import pytest

from features import FEATURE_NAMES, FEATURES, compute_features


def feats(*texts: str, **cols: list) -> dict[str, list[float]]:
    df = pl.DataFrame({"text": list(texts), **cols})
    return compute_features(df).to_dict(as_series=False)


def one(text: str, name: str) -> float:
    return feats(text)[name][0]


def test_columns_are_exactly_the_declared_features() -> None:
    out = compute_features(pl.DataFrame({"text": ["a b c"]}))
    assert tuple(out.columns) == FEATURE_NAMES
    assert all(dt == pl.Float64 for dt in out.dtypes)


def test_duplicate_lines_ignore_blank_lines() -> None:
    # 4 non-blank lines, one repeat ("a b") -> 1/4; blank lines never count.
    text = "a b\n\n\nc d e\na b\n\nf g"
    assert one(text, "dup_line_frac") == pytest.approx(1 / 4)
    # chars in repeated lines / chars in non-blank lines = 3 / (3+5+3+3)
    assert one(text, "dup_line_char_frac") == pytest.approx(3 / 14)


def test_duplicate_paragraphs() -> None:
    text = "one two\nthree\n\nfour five\n\none two\nthree"
    # paragraphs: "one two\nthree" (13), "four five" (9), repeat of the first (13)
    assert one(text, "dup_para_frac") == pytest.approx(1 / 3)
    assert one(text, "dup_para_char_frac") == pytest.approx(13 / 35)


def test_top_ngram_char_fraction() -> None:
    # words: x y z x y w (6 words, 6 chars); "x y" occurs twice -> 2 * 2 chars / 6
    assert one("x y z x y w", "top_2gram_char_frac") == pytest.approx(4 / 6)
    # no 2-gram occurs twice -> 0
    assert one("a b c d e f", "top_2gram_char_frac") == 0.0


def test_duplicate_ngram_char_fraction_counts_all_occurrences_once() -> None:
    words = ["a", "b", "c", "d", "e"]
    text = " ".join(words + ["x"] + words + ["y"])  # the 5-gram occurs twice
    # covered words: both occurrences (10 words, 10 chars) of 12 words (12 chars)
    assert one(text, "dup_5gram_char_frac") == pytest.approx(10 / 12)
    assert one(text, "dup_6gram_char_frac") == 0.0


def test_ngrams_never_cross_pages() -> None:
    # The same 5 words end page 1 and start page 2: no duplicate within either page.
    out = feats("q r a b c d e", "a b c d e s t")
    assert out["dup_5gram_char_frac"] == [0.0, 0.0]


def test_error_text_in_head_and_share(seed_text: str) -> None:
    text = "403\nSorry!!\n" + "\n".join(f"A line of real text number {i}." for i in range(8))
    assert one(text, "error_in_head") == 1.0
    assert one(text, "error_line_share") == pytest.approx(1 / 10)
    ok = "\n".join(f"A line of real text number {i}." for i in range(8))
    assert one(ok, "error_in_head") == 0.0
    assert one(ok, "error_line_share") == 0.0
    assert one(seed_text, "error_in_head") == 1.0


@pytest.mark.parametrize("phrase", [
    "Page not found", "Seite nicht gefunden", "Page introuvable", "Página no encontrada",
    "Pagina non trovata", "Página não encontrada", "Pagina niet gevonden",
    "Страница не найдена", "页面不存在", "ページが見つかりません", "Access denied",
    "Error establishing a database connection", "The page you were looking for doesn't exist",
])
def test_error_phrases_in_ten_languages(phrase: str) -> None:
    assert one(phrase, "error_in_head") == 1.0


def test_error_in_title_counts_as_head() -> None:
    out = feats("Some perfectly normal text here.", title=["404 Not Found"])
    assert out["error_in_head"] == [1.0]


def test_wall_text() -> None:
    assert one("Please enable JavaScript to continue.\nLoading", "wall_in_head") == 1.0
    assert one("We use cookies to improve your experience.", "wall_line_share") == 1.0


def test_promotional_block_at_the_end(seed_text: str) -> None:
    article = "\n".join(f"Sentence number {i} of a real article about things." for i in range(6))
    promo = "\n".join(f"- Company {c} Announces Big Expansion Of Its Global Platform"
                      for c in "ABCD")
    assert one(f"{article}\n{promo}", "promo_line_share") == pytest.approx(4 / 10)
    # the same headlines in the middle of the page are sub-headings, not a promo block
    assert one(f"{promo}\n{article}", "promo_line_share") == 0.0
    assert one(seed_text, "promo_line_share") > 0.15


def test_boilerplate_lines() -> None:
    text = "All rights reserved.\nPrivacy Policy\nA real sentence about the weather today."
    assert one(text, "boilerplate_line_share") == pytest.approx(2 / 3)


def test_quality_statistics() -> None:
    text = "The cat sat on the mat.\n• item one\nand so it goes...\n#tag #tag2"
    out = feats(text)
    assert out["bullet_line_frac"][0] == pytest.approx(1 / 4)
    assert out["ellipsis_line_frac"][0] == pytest.approx(1 / 4)
    assert out["terminal_punct_line_frac"][0] == pytest.approx(2 / 4)  # "." and "..." end lines
    assert out["gopher_stop_words"][0] == 2.0  # "the" and "and"
    words = 6 + 3 + 4 + 2
    assert out["log_word_count"][0] == pytest.approx(math.log10(1 + words))
    assert out["symbol_word_ratio"][0] == pytest.approx(3 / words)  # two '#', one '...'


def test_cjk_characters_are_words() -> None:
    assert one("页面不存在", "log_word_count") == pytest.approx(math.log10(6))


def test_empty_and_null_pages_are_valid() -> None:
    out = feats("", None)  # type: ignore[arg-type]
    for name in FEATURE_NAMES:
        assert all(math.isfinite(v) for v in out[name])
    assert out["log_word_count"] == [0.0, 0.0]


def test_html_columns_default_for_text_pages() -> None:
    out = feats("plain text page")
    assert out["main_text_share"] == [1.0]
    assert out["link_word_share"] == [0.0]


def test_every_feature_in_declared_range_on_real_pages(seed_text: str) -> None:
    from conftest import SAMPLE

    texts = [seed_text] + [
        line for line in (SAMPLE / "crawl_sample.jsonl").read_text().splitlines()[:60]
    ]
    out = compute_features(pl.DataFrame({"text": texts}))
    for f in FEATURES:
        col = out[f.name]
        assert col.min() >= f.lo and col.max() <= f.hi, f.name


def test_word_count_reason_shows_words_not_logarithm() -> None:
    from features.schema import BY_NAME

    f = BY_NAME["log_word_count"]
    assert f.reason.format(value=f.describe_value(math.log10(1 + 12))) == "thin page: only 12 words"


def test_url_chars_and_lorem_ipsum_by_their_definitions() -> None:
    """``url_char_frac``: characters of ``https?://\\S+`` matches over characters (what
    removing them takes away); ``has_lorem_or_braces``: a "{" or "lorem ipsum" in any ASCII
    case (not other Unicode case variants)."""
    import random

    from features.chars import URL

    rng = random.Random(7)
    pieces = ["see https://x.org/a?b=1 and http://é.fr/ü", "http:/no", "lorem", " ipsum",
              "LOREM IPSUM", "LoReM iPsUm", "lorem\u00a0ipsum", "\u0130psum", "{", "text ",
              "\u212aelvin", "中文", "\n"]
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 6))) for _ in range(400)]
    texts += ["lorem ipsum", "LOREM IPSUM dolor", "lorem  ipsum", "LOREM \u0130PSUM", ""]
    got = feats(*texts)
    ref = pl.DataFrame({"text": texts}).select(
        (pl.col("text").str.len_chars() - pl.col("text").str.replace_all(URL, "")
         .str.len_chars()).alias("url"),
        (pl.col("text").str.contains("{", literal=True)
         | pl.col("text").str.contains_any(["lorem ipsum"], ascii_case_insensitive=True))
        .alias("lorem"),
        pl.col("text").str.len_chars().alias("chars"))
    assert got["url_char_frac"] == [u / max(c, 1) for u, c in zip(ref["url"], ref["chars"],
                                                                 strict=True)]
    assert got["has_lorem_or_braces"] == [float(x) for x in ref["lorem"]]
    assert 0 < sum(got["has_lorem_or_braces"]) < len(texts)
    assert got["has_lorem_or_braces"][-5:] == [1.0, 1.0, 0.0, 0.0, 0.0]
    assert sum(u > 0 for u in got["url_char_frac"]) > 50
