"""The labelling loop: export from a real nightly run, validated import, and the rows it feeds
to retrain (imported labels and `retrain --labels/--pages`).

Runs use a copy of the shipped registry; imported labels go to scratch stores (``store=`` or
$PAGESCORE_LABELS), never to data/labels; retrains go to scratch registries.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from conftest import REPO, SAMPLE

from features import FEATURE_NAMES
from features.compute import marked_features
from features.extract import HTML_FEATURE_DEFAULTS
from jobs.labels import (
    CSV_COLUMNS,
    TRAIN_COLUMNS,
    export_for_labelling,
    extra_training_rows,
    import_labels,
)
from jobs.nightly import NightlyConfig, run_nightly
from models import train
from models.registry import SHIPPED_REGISTRY
from models.train import TRAINING_TABLE, load_training_table, retrain

PAGESCORE = [sys.executable, "-m", "jobs"]
LINE_FLAGS = ("is_error", "is_wall", "is_dup", "is_promo", "is_boiler")


@pytest.fixture(scope="module")
def partition(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real nightly run of data/sample (JSONL crawl records + HTML/text files)."""
    root = tmp_path_factory.mktemp("labels")
    registry = root / "registry"
    shutil.copytree(SHIPPED_REGISTRY, registry)
    cfg = NightlyConfig([SAMPLE / "crawl_sample.jsonl", SAMPLE / "pages"], out=root / "runs",
                        date="2026-01-01", workers=1)
    return run_nightly(cfg, registry=registry).partition


@pytest.fixture(scope="module")
def exported(partition: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every page of the run exported (n above the page count)."""
    to = tmp_path_factory.mktemp("export") / "labelling"
    assert export_for_labelling(partition, 1000, to) == to / "to_label.csv"
    return to


@pytest.fixture
def labelling(exported: Path, tmp_path: Path) -> Path:
    """A private copy of the export, to fill in."""
    return Path(shutil.copytree(exported, tmp_path / "labelling"))


def read_rows(csv_path: Path) -> list[dict[str, str]]:
    with csv_path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def write_rows(csv_path: Path, rows: list[dict[str, str]]) -> Path:
    with csv_path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
        w.writeheader()
        w.writerows(rows)
    return csv_path


def fill(folder: Path, labels: dict[int, tuple[str, str]], name: str = "to_label.csv") -> Path:
    """Write ``name`` beside pages.parquet with row i labelled ``labels[i]`` = (label, defects)."""
    rows = read_rows(folder / "to_label.csv")
    for i, (label, defects) in labels.items():
        rows[i] = {**rows[i], "label": label, "defects": defects}
    return write_rows(folder / name, rows)


def stratified_sample(n: int = 600, seed: int = 1) -> pl.DataFrame:
    table = pl.read_parquet(TRAINING_TABLE)
    share = n / table.height
    return table.filter(pl.int_range(pl.len()).shuffle(seed=seed).over("group")
                        < (pl.len().over("group") * share).ceil())


# --- export ----------------------------------------------------------------------------------

def test_export_writes_csv_pages_and_highlighted_html(partition: Path, exported: Path) -> None:
    scores = pl.read_parquet(partition / "scores.parquet")
    rows = read_rows(exported / "to_label.csv")
    assert tuple(rows[0]) == CSV_COLUMNS
    keys = [(r["page_id"], r["source"]) for r in rows]
    assert len(set(keys)) == len(keys) == scores.height
    assert set(keys) == set(scores.select("page_id", "source").rows())
    assert all(r["label"] == r["defects"] == "" for r in rows)

    pages = pl.read_parquet(exported / "pages.parquet")
    assert {"page_id", "source", "text", "title", *HTML_FEATURE_DEFAULTS} <= set(pages.columns)
    assert set(pages.select("page_id", "source").rows()) == set(keys)

    page = (exported / "index.html").read_text(encoding="utf-8")
    # The seed page: its 403 banner lines are highlighted as errors, its article lines are not.
    seed = page[page.index("<h2>seed_page.txt</h2>"):]
    seed = seed[: seed.index("</pre>")]
    assert "<span class='is_error'>403</span>" in seed
    assert ("<span class='is_error'>" + html.escape("Error! We're sorry, but the page you were "
                                                    "looking for doesn't exist.") + "</span>") in seed
    assert "<span class=''>Sorry!!</span>" in seed
    assert "class='is_dup" in seed and "is_promo" in seed and "is_boiler" in seed
    # Every flagged line of every page carries its flags as classes.
    feats_in = pages.select("text", "title")
    _, lines = marked_features(feats_in)
    flagged = lines.filter(pl.any_horizontal(*LINE_FLAGS))
    assert flagged.height > 0
    for row in flagged.select("line", *LINE_FLAGS).iter_rows(named=True):
        classes = " ".join(f for f in LINE_FLAGS if row[f])
        assert f"<span class='{classes}'>{html.escape(row['line'])}</span>" in page


def test_export_of_a_few_pages(partition: Path, tmp_path: Path) -> None:
    export_for_labelling(partition, 12, tmp_path)
    rows = read_rows(tmp_path / "to_label.csv")
    assert len(rows) == 12 == len({(r["page_id"], r["source"]) for r in rows})
    assert pl.read_parquet(tmp_path / "pages.parquet").height == 12
    assert (tmp_path / "index.html").read_text(encoding="utf-8").count("<h2>") == 12


# --- import: refusals -------------------------------------------------------------------------

# case -> (message, the bad row that replaces an unlabelled row amid two good labels)
REFUSALS = {
    "unknown id": ("line 4: unknown page id 'no-such-page'",
                   lambda rows: {**rows[2], "page_id": "no-such-page", "label": "1"}),
    "known id, other source": ("line 4: unknown page id",
                               lambda rows: {**rows[2], "source": "elsewhere", "label": "1"}),
    "duplicate in file": ("line 4: page .* is already labelled",
                          lambda rows: {**rows[0], "label": "0"}),
    "label 2": ("line 4: label must be 0 or 1, got '2'",
                lambda rows: {**rows[2], "label": "2"}),
    "label yes": ("line 4: label must be 0 or 1, got 'yes'",
                  lambda rows: {**rows[2], "label": "yes"}),
    "unknown defect": (r"line 4: unknown defect\(s\) \['typo'\]",
                       lambda rows: {**rows[2], "label": "0", "defects": "error|typo"}),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_import_refuses_bad_files_and_writes_nothing(labelling: Path, tmp_path: Path,
                                                     case: str) -> None:
    message, bad_row = REFUSALS[case]
    rows = read_rows(labelling / "to_label.csv")
    # Good labels around the bad one: a partly bad file must not be half imported.
    rows[0] = {**rows[0], "label": "1"}
    rows[1] = {**rows[1], "label": "0", "defects": "thin"}
    rows[2] = bad_row(rows)
    bad = write_rows(labelling / "filled.csv", rows)
    store = tmp_path / "imported.parquet"
    with pytest.raises(ValueError, match=message) as exc:
        import_labels(bad, "ana", store=store)
    assert str(exc.value).startswith("refused, nothing imported")
    assert str(exc.value).count("line ") == 1  # only the bad row is blamed
    assert not store.exists()


def test_import_refuses_a_file_without_the_csv_layout(labelling: Path, tmp_path: Path) -> None:
    rows = read_rows(labelling / "to_label.csv")
    semi = labelling / "filled.csv"
    semi.write_text(";".join(CSV_COLUMNS) + "\n" + ";".join(
        [rows[0]["page_id"], rows[0]["source"], "", "", "", "", "", "", "1", "", ""]) + "\n")
    store = tmp_path / "imported.parquet"
    with pytest.raises(ValueError, match=r"no column\(s\) \['page_id', 'source', 'label'\]"):
        import_labels(semi, "ana", store=store)
    assert not store.exists()


def test_import_refuses_pages_already_imported(labelling: Path, tmp_path: Path) -> None:
    store = tmp_path / "imported.parquet"
    first = fill(labelling, {0: ("1", ""), 1: ("0", "error")}, "first.csv")
    assert import_labels(first, "ana", store=store) == 2
    before = store.read_bytes()
    again = fill(labelling, {1: ("1", ""), 2: ("0", "thin")}, "second.csv")
    with pytest.raises(ValueError, match=r"line 3: page .* is already labelled"):
        import_labels(again, "bo", store=store)
    assert store.read_bytes() == before


def test_import_without_pages_parquet_is_refused(labelling: Path, tmp_path: Path) -> None:
    filled = fill(labelling, {0: ("1", "")})
    (labelling / "pages.parquet").unlink()
    with pytest.raises(ValueError, match="pages.parquet not found"):
        import_labels(filled, "ana", store=tmp_path / "imported.parquet")


# --- import: accepted --------------------------------------------------------------------------

def test_import_appends_labels_with_who_when_and_source(labelling: Path, tmp_path: Path) -> None:
    store = tmp_path / "labels" / "imported.parquet"
    rows = read_rows(labelling / "to_label.csv")
    a = fill(labelling, {0: ("1", ""), 3: ("0", "error|wall"), 5: ("0", " thin ")}, "a.csv")
    b = fill(labelling, {1: ("0", "spam"), 2: ("1", "")}, "b.csv")
    start = dt.datetime.now(dt.UTC).replace(microsecond=0)
    assert import_labels(a, "ana", store=store) == 3  # unlabelled rows are skipped
    assert import_labels(b, "bo", store=store) == 2
    got = pl.read_parquet(store)
    assert got.height == 5
    want = {(rows[i]["page_id"], rows[i]["source"]): (lab, d, who, f) for i, lab, d, who, f in [
        (0, 1, "", "ana", a), (3, 0, "error|wall", "ana", a), (5, 0, "thin", "ana", a),
        (1, 0, "spam", "bo", b), (2, 1, "", "bo", b)]}
    pages = pl.read_parquet(labelling / "pages.parquet")
    text_of = {(p, s): t for p, s, t in pages.select("page_id", "source", "text").rows()}
    for r in got.iter_rows(named=True):
        key = (r["page_id"], r["origin"])
        label, defects, who, path = want[key]
        assert (r["label"], r["defects"], r["who"], r["labels_file"]) == (label, defects, who,
                                                                         str(path))
        assert start <= dt.datetime.fromisoformat(r["when"]) <= dt.datetime.now(dt.UTC)
        assert r["text"] == text_of[key]


def test_imported_labels_feed_retrain(labelling: Path, partition: Path, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "imported.parquet"
    labels = {i: ("1" if i % 3 == 0 else "0", "" if i % 3 == 0 else "thin") for i in range(30)}
    assert import_labels(fill(labelling, labels), "ana", store=store) == 30

    extra = extra_training_rows(None, [], store=store)
    assert len(extra) == 1
    rows = extra[0]
    assert tuple(rows.columns) == TRAIN_COLUMNS
    assert rows.height == 30 and rows["label"].sum() == 10
    assert rows.null_count().select(pl.sum_horizontal(pl.all())).item() == 0
    assert set(rows["group"]) <= {str(SAMPLE / "crawl_sample.jsonl"), str(SAMPLE / "pages")}

    base = stratified_sample()
    base_path = tmp_path / "base.parquet"
    base.write_parquet(base_path)
    table = load_training_table(base_path, extra=extra)
    assert table.height == base.height + 30
    seen: list[tuple[pl.DataFrame, pl.DataFrame]] = []
    original = train.features_for
    monkeypatch.setattr(train, "features_for",
                        lambda t: seen.append((t, original(t))) or seen[-1][1])
    result = retrain(table, registry=tmp_path / "registry", kinds=("lightgbm",))
    td = result.card["training_data"]
    assert td["rows"] == base.height + 30
    assert td["positives"] == int(base["label"].sum()) + 10
    assert td["sources"] == base["group"].n_unique() + rows["group"].n_unique()

    # Retrain's feature rows for the labelled pages (HTML ones included: title and link
    # columns come from the run) are the very ones nightly wrote for them.
    assert rows["is_html"].any() and not rows["is_html"].all()
    used_rows, used_feats = seen[0]
    at = {(p, o): i for i, (p, o) in enumerate(used_rows.select("page_id", "origin").rows())}
    scores = pl.read_parquet(partition / "scores.parquet")
    labelled = scores.join(rows.select("page_id", pl.col("origin").alias("source")),
                           on=["page_id", "source"], how="semi")
    assert labelled.height == 30
    for r in labelled.iter_rows(named=True):
        used = used_feats.row(at[(r["page_id"], r["source"])], named=True)
        assert [used[f] for f in FEATURE_NAMES] == [r[f] for f in FEATURE_NAMES], r["page_id"]


# --- retrain --labels/--pages -----------------------------------------------------------------

@pytest.fixture
def pages_folder(tmp_path: Path) -> Path:
    """Three text pages and one real HTML page of data/sample."""
    folder = tmp_path / "pages"
    folder.mkdir()
    table = pl.read_parquet(TRAINING_TABLE).filter(~pl.col("is_html")).head(3)
    for i, text in enumerate(table["text"]):
        (folder / f"t{i}.txt").write_text(text, encoding="utf-8")
    shutil.copy(SAMPLE / "pages" / "mozilla-readability__001.html", folder / "page.html")
    return folder


def write_labels(path: Path, rows: list[tuple[str, str, str]],
                 header: tuple[str, ...] = ("id", "label", "defects")) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_labels_and_pages_become_training_rows(pages_folder: Path, partition: Path,
                                               tmp_path: Path) -> None:
    labels = write_labels(tmp_path / "labels.csv", [
        ("t0.txt", "1", ""), ("t1.txt", "0", "thin|spam"), ("page.html", "1", ""),
        ("t2.txt", "", "")])  # unlabelled: left out
    store = tmp_path / "none.parquet"
    extra = extra_training_rows(labels, [pages_folder], store=store)
    assert len(extra) == 1
    rows = extra[0]
    assert tuple(rows.columns) == TRAIN_COLUMNS
    got = {r["page_id"]: r for r in rows.iter_rows(named=True)}
    assert set(got) == {"t0.txt", "t1.txt", "page.html"}
    assert [got[i]["label"] for i in ("t0.txt", "t1.txt", "page.html")] == [1, 0, 1]
    assert got["t1.txt"]["defects"] == "thin|spam"
    assert {r["group"] for r in got.values()} == {str(pages_folder)}
    assert got["t0.txt"]["text"] == (pages_folder / "t0.txt").read_text(encoding="utf-8")
    assert not got["t0.txt"]["is_html"] and got["page.html"]["is_html"]
    # The HTML page is extracted exactly as nightly extracted it in the sample run.
    texts = pl.read_parquet(partition / "texts.parquet")
    scores = pl.read_parquet(partition / "scores.parquet")
    nightly_text = texts.filter(pl.col("page_id") == "mozilla-readability__001.html")
    nightly_feats = scores.filter(pl.col("page_id") == "mozilla-readability__001.html")
    assert got["page.html"]["text"] == nightly_text["text"].item()
    assert got["page.html"]["title"] == nightly_text["title"].item()
    for col in HTML_FEATURE_DEFAULTS:
        assert got["page.html"][col] == nightly_feats[col].item(), col


@pytest.mark.parametrize(("rows", "header", "message"), [
    ([("t0.txt", "1", ""), ("ghost.txt", "0", "")], None,
     r"1 labelled ids not found in --pages, e\.g\. \['ghost\.txt'\]"),
    ([("t0.txt", "yes", "")], None, r"line 2: label must be 0 or 1, got 'yes'"),
    ([("t0.txt", "0", "typo")], None, r"line 2: unknown defect\(s\) \['typo'\]"),
    ([("t0.txt", "0", ""), ("t0.txt", "1", "")], None, r"line 3: id 't0\.txt' is labelled twice"),
    ([("t0.txt", "1", "")], ("page_id", "label", "defects"), r"expected a CSV with columns id"),
])
def test_bad_labels_csv_is_a_clear_value_error(pages_folder: Path, tmp_path: Path,
                                              rows: list[tuple[str, str, str]],
                                              header: tuple[str, ...] | None,
                                              message: str) -> None:
    labels = write_labels(tmp_path / "labels.csv", rows, header or ("id", "label", "defects"))
    with pytest.raises(ValueError, match=message):
        extra_training_rows(labels, [pages_folder], store=tmp_path / "none.parquet")


def test_imported_and_pages_rows_together(labelling: Path, pages_folder: Path,
                                          tmp_path: Path) -> None:
    store = tmp_path / "imported.parquet"
    import_labels(fill(labelling, {0: ("1", "")}), "ana", store=store)
    labels = write_labels(tmp_path / "labels.csv", [("t0.txt", "0", "thin")])
    extra = extra_training_rows(labels, [pages_folder], store=store)
    assert [f.height for f in extra] == [1, 1]
    assert all(tuple(f.columns) == TRAIN_COLUMNS for f in extra)


# --- the CLI, pointed at scratch stores ------------------------------------------------------

def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([*PAGESCORE, *args], capture_output=True, text=True, timeout=300,
                          cwd=REPO, env={**os.environ, **env})


def test_cli_label_import_and_retrain_refusal_use_the_env_stores(labelling: Path,
                                                                 pages_folder: Path,
                                                                 tmp_path: Path) -> None:
    store, registry = tmp_path / "store" / "imported.parquet", tmp_path / "registry"
    env = {"PAGESCORE_LABELS": str(store), "PAGESCORE_REGISTRY": str(registry)}
    real_store = REPO / "data" / "labels" / "imported.parquet"
    real_before = real_store.stat().st_mtime_ns if real_store.exists() else None

    bad = fill(labelling, {0: ("2", "")}, "bad.csv")
    res = cli("label", "import", str(bad), "--who", "ana", env=env)
    assert res.returncode == 2, res.stderr
    assert "label must be 0 or 1" in res.stderr and not store.exists()

    good = fill(labelling, {0: ("1", ""), 1: ("0", "error")}, "good.csv")
    res = cli("label", "import", str(good), "--who", "ana", env=env)
    assert res.returncode == 0, res.stderr
    assert "imported 2 labels" in res.stdout
    assert pl.read_parquet(store)["who"].to_list() == ["ana", "ana"]

    labels = write_labels(tmp_path / "labels.csv", [("ghost.txt", "1", "")])
    res = cli("retrain", "--labels", str(labels), "--pages", str(pages_folder), env=env)
    assert res.returncode == 2, res.stderr
    assert "not found in --pages" in res.stderr and "ghost.txt" in res.stderr
    assert not registry.exists()  # refused before any training

    assert (real_store.stat().st_mtime_ns if real_store.exists() else None) == real_before
