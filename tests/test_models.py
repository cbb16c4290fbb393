"""Registry safety: tampered, truncated, foreign and other-schema models are refused unloaded."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pytest

from models.registry import REGISTRY_DIR, ModelError, load_model, read_index


@pytest.fixture()
def registry(tmp_path: Path) -> Path:
    dest = tmp_path / "registry"
    shutil.copytree(REGISTRY_DIR, dest)
    return dest


def _model_path(registry: Path) -> Path:
    return registry / read_index(registry)["champion"] / "model.joblib"


def test_shipped_champion_loads_and_matches_card(registry: Path) -> None:
    loaded = load_model(registry=registry)
    assert loaded.card["model_sha256"] == loaded.sha256
    assert 0 < loaded.model.thresholds.reject <= loaded.model.thresholds.publish < 1


def test_tampered_file_is_refused(registry: Path) -> None:
    path = _model_path(registry)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="does not match the registry"):
        load_model(registry=registry)


def test_truncated_file_is_refused(registry: Path) -> None:
    path = _model_path(registry)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ModelError, match="does not match"):
        load_model(registry=registry)


class _Boom:
    def __reduce__(self):  # would run code if ever unpickled
        return (Path("/tmp/pagescore-pwned").touch, ())


def test_foreign_pickle_is_never_executed(registry: Path, tmp_path: Path) -> None:
    marker = Path("/tmp/pagescore-pwned")
    marker.unlink(missing_ok=True)
    _model_path(registry).write_bytes(pickle.dumps(_Boom()))
    with pytest.raises(ModelError):
        load_model(registry=registry)
    assert not marker.exists()


def test_other_feature_schema_is_refused(registry: Path) -> None:
    index = read_index(registry)
    index["versions"][index["champion"]]["feature_schema_version"] = "0.9"
    (registry / "index.json").write_text(json.dumps(index))
    with pytest.raises(ModelError, match="feature schema"):
        load_model(registry=registry)


def test_unknown_version_is_refused(registry: Path) -> None:
    with pytest.raises(ModelError, match="unknown model version"):
        load_model("1999-01-01.1", registry=registry)


def test_recall_at_precision_on_a_hand_ranked_list() -> None:
    import numpy as np

    from models.evaluate import recall_at_precision

    y = np.array([1, 1, 0, 1, 0, 0])
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.1])
    # top 2: precision 1.0, recall 2/3; top 4: precision 0.75, recall 1.0
    assert recall_at_precision(p, y, (0.7, 0.8)) == {"0.70": 1.0, "0.80": 2 / 3}


