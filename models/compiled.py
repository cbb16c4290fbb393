"""A saved LightGBM model compiled to plain arrays: what the nightly workers score with.

Unpickling the saved model (``models.estimator.PagescoreModel``) imports LightGBM, which
imports scikit-learn, SciPy and pandas: about 1.7 CPU s per nightly run, before any page is
read, and every pickle load runs code. The compiled form holds only what scoring reads: the
trees' node conditions and, per decision pattern, the leaf value and the TreeSHAP contributions
(``models.tree_contributions``), with the calibration and thresholds. It is an ``.npz`` file
loaded with ``allow_pickle=False``, so loading it imports nothing but numpy and executes
nothing.

Same outputs, not approximations: raw margins are the leaf values summed in LightGBM's order
(bit-identical to ``predict(raw_score=True)``), so scores and decisions are the same bits;
contributions come from the same tables the saved model uses. ``compile_model`` builds the
tables through ``contribution_tables``, whose self-check compares them with LightGBM (raw
scores exactly, contributions to 1e-9) before they can be saved; a model the tables do not
cover (logistic, categorical or big trees) gets no compiled form and is unpickled as before.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.estimator import CalibratedScorer, PagescoreModel, Thresholds
from models.tree_contributions import ContributionTables, contribution_tables

COMPILED_FILE = "compiled.npz"
# Bumped when the arrays or their meaning change; a file of another format is then not used
# (the model is unpickled instead) until ``models.registry.add_compiled`` writes it again.
COMPILED_FORMAT = 1


class CompiledFormatError(ValueError):
    """A compiled file written by another version of this code (``COMPILED_FORMAT``)."""


@dataclass
class CompiledModel(CalibratedScorer):
    """Scores, decisions and contributions of a LightGBM ``PagescoreModel``, from arrays."""

    tables: ContributionTables
    model_sha256: str  # of the model file it was compiled from (``load_scorer`` checks it)
    calib_a: float
    calib_b: float
    thresholds: Thresholds
    feature_names: tuple[str, ...]
    feature_schema_version: str
    kind: str = "lightgbm"

    def raw_margin(self, X: np.ndarray) -> np.ndarray:
        return self.tables.raw_margin(X)

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """(n_pages, n_features) additive log-odds contributions (TreeSHAP)."""
        return self.tables.contributions(X)

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, format=np.int64(COMPILED_FORMAT),
                 model_sha256=np.array(self.model_sha256, dtype=np.str_),
                 calibration=np.array([self.calib_a, self.calib_b], dtype=np.float64),
                 thresholds=np.array([self.thresholds.publish, self.thresholds.reject],
                                     dtype=np.float64),
                 feature_names=np.array(self.feature_names, dtype=np.str_),
                 feature_schema_version=np.array(self.feature_schema_version, dtype=np.str_),
                 **{f"tables_{k}": v for k, v in self.tables.to_arrays().items()})
        return buf.getvalue()

    @classmethod
    def load(cls, path: Path) -> CompiledModel:
        """Read a file written from ``to_bytes`` (no pickles: ``allow_pickle=False``)."""
        with np.load(path, allow_pickle=False) as npz:
            if int(npz["format"]) != COMPILED_FORMAT:
                raise CompiledFormatError(f"{path}: compiled model format "
                                          f"{int(npz['format'])}, this code reads "
                                          f"{COMPILED_FORMAT}")
            tables = ContributionTables.from_arrays(
                {k.removeprefix("tables_"): npz[k] for k in npz.files if k.startswith("tables_")})
            calib_a, calib_b = npz["calibration"].tolist()
            publish, reject = npz["thresholds"].tolist()
            return cls(tables=tables, model_sha256=str(npz["model_sha256"]),
                       calib_a=calib_a, calib_b=calib_b,
                       thresholds=Thresholds(publish=publish, reject=reject),
                       feature_names=tuple(npz["feature_names"].tolist()),
                       feature_schema_version=str(npz["feature_schema_version"]))


def compile_model(model: PagescoreModel, model_sha256: str) -> CompiledModel | None:
    """The compiled form of ``model`` (whose saved file has ``model_sha256``), or ``None`` when
    it has none (see the module docstring). Needs LightGBM (it reads the booster and checks the
    tables against it)."""
    if model.kind != "lightgbm":
        return None
    try:
        tables: Any = contribution_tables(model.base.booster_)
    except ValueError:  # e.g. linear trees, whose dump LightGBM cannot write as JSON
        return None
    if tables is None or tables.n_features != len(model.feature_names):
        return None
    return CompiledModel(tables=tables, model_sha256=model_sha256, calib_a=float(model.calib_a),
                         calib_b=float(model.calib_b),
                         thresholds=Thresholds(publish=float(model.thresholds.publish),
                                               reject=float(model.thresholds.reject)),
                         feature_names=tuple(model.feature_names),
                         feature_schema_version=model.feature_schema_version)
