"""The compiled model the workers score with: same outputs as the saved model, verified like it,
and no LightGBM in a worker."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from conftest import REPO

from features.compute import compute_features
from features.schema import FEATURE_NAMES
from models.compiled import COMPILED_FILE, CompiledModel, compile_model
from models.estimator import PagescoreModel
from models.registry import (
    REGISTRY_DIR,
    ModelError,
    add_compiled,
    load_model,
    load_scorer,
    read_index,
)


@pytest.fixture()
def registry(tmp_path: Path) -> Path:
    dest = tmp_path / "registry"
    shutil.copytree(REGISTRY_DIR, dest)
    return dest


@pytest.fixture(scope="module")
def sample_features(sample_texts: list[str]) -> np.ndarray:
    """Feature rows of the shipped sample pages (real crawl text and HTML pages)."""
    feats = compute_features(pl.DataFrame({"text": sample_texts}))
    return feats.select(FEATURE_NAMES).to_numpy().astype(np.float64)


def test_compiled_champion_gives_the_saved_models_outputs(sample_features: np.ndarray) -> None:
    full = load_model().model
    compiled = load_scorer().model
    assert isinstance(full, PagescoreModel) and isinstance(compiled, CompiledModel)
    X = sample_features
    # Rows at, just below and just above every split threshold, besides the real pages.
    t = compiled.tables
    probe = np.repeat(X[:1], len(t.node_threshold) * 3, axis=0)
    for k, (f, thr) in enumerate(zip(t.node_feature, t.node_threshold, strict=True)):
        probe[3 * k: 3 * k + 3, f] = [thr, np.nextafter(thr, np.inf), np.nextafter(thr, -np.inf)]
    X = np.vstack([X, probe])
    assert len(X) > 100
    scores = full.predict_proba(X)
    assert np.array_equal(compiled.raw_margin(X), full.raw_margin(X))  # to the last bit
    assert np.array_equal(compiled.predict_proba(X), scores)
    assert (compiled.decide(scores) == full.decide(scores)).all()
    assert np.array_equal(compiled.contributions(X), full.contributions(X))
    assert len(set(full.decide(scores))) == 3  # the rows reach every decision


def test_compiled_file_round_trips(tmp_path: Path) -> None:
    loaded = load_model()
    compiled = compile_model(loaded.model, loaded.sha256)
    assert compiled is not None
    path = tmp_path / COMPILED_FILE
    path.write_bytes(compiled.to_bytes())
    back = CompiledModel.load(path)
    assert (back.calib_a, back.calib_b, back.thresholds, back.model_sha256) == (
        compiled.calib_a, compiled.calib_b, compiled.thresholds, loaded.sha256)
    assert back.feature_names == compiled.feature_names == FEATURE_NAMES
    for name, arr in compiled.tables.to_arrays().items():
        assert np.array_equal(getattr(back.tables, name), arr), name


def test_tampered_compiled_file_is_refused(registry: Path) -> None:
    path = registry / read_index(registry)["champion"] / COMPILED_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="compiled model .* does not match the registry"):
        load_scorer(registry=registry)
    path.unlink()
    with pytest.raises(ModelError, match="does not match"):
        load_scorer(registry=registry)


def test_version_without_compiled_form_is_unpickled(registry: Path) -> None:
    index = read_index(registry)
    champion = index["champion"]
    del index["versions"][champion]["compiled_sha256"]
    (registry / "index.json").write_text(json.dumps(index))
    assert isinstance(load_scorer(registry=registry).model, PagescoreModel)
    # add_compiled gives it one again (what a registry from before compiled forms needs).
    assert add_compiled(champion, registry=registry)
    assert "compiled_sha256" in read_index(registry)["versions"][champion]
    assert isinstance(load_scorer(registry=registry).model, CompiledModel)


def test_compiled_file_of_another_model_is_refused(registry: Path) -> None:
    """A compiled file must come from its version's own model file, even when the index names
    its hash (a hand-edited or mixed-up registry)."""
    index = read_index(registry)
    champion = index["champion"]
    other = next(v for v, e in index["versions"].items()
                 if v != champion and e.get("kind") == "lightgbm")
    foreign = compile_model(load_model(registry=registry).model,
                            index["versions"][champion]["sha256"])
    assert foreign is not None
    path = registry / other / COMPILED_FILE
    path.write_bytes(foreign.to_bytes())
    index["versions"][other]["compiled_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    index["versions"][other]["feature_schema_version"] = index["versions"][champion][
        "feature_schema_version"]
    index["versions"][other]["features"] = index["versions"][champion]["features"]
    (registry / "index.json").write_text(json.dumps(index))
    with pytest.raises(ModelError, match="built from another model file"):
        load_scorer(other, registry=registry)


def test_compiled_file_of_another_format_falls_back_to_the_model(
        registry: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import models.compiled

    monkeypatch.setattr(models.compiled, "COMPILED_FORMAT", models.compiled.COMPILED_FORMAT + 1)
    assert isinstance(load_scorer(registry=registry).model, PagescoreModel)
    assert add_compiled(read_index(registry)["champion"], registry=registry)
    assert isinstance(load_scorer(registry=registry).model, CompiledModel)


def test_worker_scores_without_lightgbm_scikit_learn_or_pandas() -> None:
    code = """
import sys
from jobs.worker import init_worker
from jobs.pipeline import process_batch
loaded = init_worker(None, None)
pages = [{"page_id": "a", "url": None, "source": "s", "html": None,
          "text": "Hello world. This is a page of text.\\n\\nAnother paragraph here."},
         {"page_id": "b", "url": None, "source": "s", "text": None,
          "html": "<html><body><p>Sorry, the page you were looking for does not exist.</p>"}]
out = process_batch(pages, [], loaded)
assert out["scores"].height == 2 and out["scores"]["reasons"].list.len().sum() > 0
print(type(loaded.model).__name__, sorted(m for m in ("lightgbm", "sklearn", "pandas")
                                          if m in sys.modules))
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["CompiledModel", "[]"]


def test_fork_server_preload_warms_every_scoring_kernel_and_skips_lightgbm() -> None:
    """After ``jobs.worker_preload`` (what the fork server imports), scoring real rows compiles
    no new kernel signature: the workers forked from it start warm."""
    code = """
import sys
import jobs.worker_preload
import models.tree_contributions as t
kernels = (t._margin, t._accumulate)
before = [len(k.signatures) for k in kernels]
import numpy as np
from models.registry import load_scorer
model = load_scorer().model
X = np.random.default_rng(0).random((50, len(model.feature_names)))
model.predict_proba(X), model.contributions(X)
print(before, [len(k.signatures) for k in kernels], "lightgbm" in sys.modules)
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[1, 1] [1, 1] False"


def test_fork_server_preload_that_fails_says_so_and_leaves_the_server_alive() -> None:
    """An error while the fork server prepares (say, a phrase list that does not decode) is
    reported and left to the workers: an exception there would end the fork server, and the
    run would print only "aborted"."""
    code = """
import features.lines

def broken():
    raise UnicodeDecodeError("utf-8", b"\\\\xff", 0, 1, "invalid start byte")

features.lines.line_automaton = broken
import jobs.worker_preload
print("imported")
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "imported"
    assert "preparing the workers failed (UnicodeDecodeError" in res.stderr


def test_fork_server_preload_leaves_scipy_linalg_unloaded_yet_importable_and_gc_on() -> None:
    """The preload keeps numba from importing scipy.linalg (its BLAS probe, 0.1-0.2 CPU s a
    run) without breaking it: a worker that needs LightGBM or scikit-learn still imports it,
    numba still compiles ``np.dot``, and cyclic garbage collection is back on, with the
    loaded modules frozen out of it."""
    code = """
import gc, sys
import jobs.worker_preload
unloaded = "scipy.linalg" not in sys.modules
frozen = gc.get_freeze_count() > 10_000
import numpy as np, scipy.linalg
from numba import njit
dot = njit(lambda a, b: np.dot(a, b))
print(unloaded, frozen, gc.isenabled(), scipy.linalg.norm(np.ones(4)), dot(np.ones(3), np.ones(3)))
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["True", "True", "True", "2.0", "3.0"]


def test_hiding_scipy_linalg_leaves_a_loaded_one_alone() -> None:
    """``without_scipy_linalg`` only hides a scipy.linalg that is not loaded yet."""
    code = """
import sys
import scipy.linalg
from jobs.worker_preload import without_scipy_linalg
with without_scipy_linalg():
    inside = sys.modules["scipy.linalg"] is scipy.linalg
print(inside, sys.modules["scipy.linalg"] is scipy.linalg)
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["True", "True"]
