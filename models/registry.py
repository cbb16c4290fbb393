"""File-based model registry with safe loading.

``models/registry/index.json`` names the champion and, per version, the model file's SHA-256
and feature schema version. Loading checks both *before* unpickling, so a tampered, truncated or
foreign file is refused without executing any of it.

The registry is ``models/registry`` unless the environment variable ``PAGESCORE_REGISTRY``
names another folder; it is read at each call, so ``pagescore retrain``, ``nightly`` and
``models`` (and tests running the CLI) can use a scratch registry without touching the shipped
one. Functions taking ``registry=`` use that folder when given one.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from features.schema import FEATURE_NAMES, FEATURE_SCHEMA_VERSION
from models.estimator import PagescoreModel

if TYPE_CHECKING:  # imported where used: a driver that only verifies models loads no numba
    from models.compiled import CompiledModel

SHIPPED_REGISTRY = Path(__file__).resolve().parent / "registry"
MODEL_FILE = "model.joblib"


def registry_dir() -> Path:
    """The registry in force: ``$PAGESCORE_REGISTRY`` if set, else the shipped one."""
    env = os.environ.get("PAGESCORE_REGISTRY")
    return Path(env) if env else SHIPPED_REGISTRY


# Resolved at import for callers that pass it explicitly (nightly's worker processes inherit the
# environment, so they resolve the same folder as their driver).
REGISTRY_DIR = registry_dir()


class ModelError(RuntimeError):
    """A model that must not be loaded (unknown, tampered, wrong schema, not ours)."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_index(registry: Path | None = None) -> dict[str, Any]:
    registry = registry or registry_dir()
    path = registry / "index.json"
    if not path.exists():
        raise ModelError(f"no model registry at {registry} (run `pagescore retrain`)")
    return json.loads(path.read_text())


def write_json_atomic(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(obj, fh, indent=2, sort_keys=True)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


@dataclass(frozen=True)
class ModelRef:
    """A registered model whose file and feature schema were verified, not yet unpickled."""

    version: str
    sha256: str
    path: Path
    card: dict[str, Any]


@dataclass(frozen=True)
class LoadedModel(ModelRef):
    """A verified model, unpickled (``load_model``) or its compiled form (``load_scorer``)."""

    model: PagescoreModel | CompiledModel


def verify_model(version: str | None = None, registry: Path | None = None) -> ModelRef:
    """Check ``version`` (default: the champion) against the registry and this code: feature
    schema, feature columns and the file's sha256; unpickles nothing (a driver process that
    only hands work out need not import the model's libraries)."""
    registry = registry or registry_dir()
    index = read_index(registry)
    version = version or index.get("champion")
    if not version:
        raise ModelError("the registry has no champion model")
    entry = index.get("versions", {}).get(version)
    if entry is None:
        known = ", ".join(sorted(index.get("versions", {}))) or "none"
        raise ModelError(f"unknown model version {version!r} (known: {known})")
    if entry.get("feature_schema_version") != FEATURE_SCHEMA_VERSION:
        raise ModelError(
            f"model {version} was trained with feature schema "
            f"{entry.get('feature_schema_version')!r}, this code computes "
            f"{FEATURE_SCHEMA_VERSION!r}: retrain or use a matching pagescore version"
        )
    if tuple(entry.get("features", ())) != FEATURE_NAMES:
        raise ModelError(f"model {version} expects other feature columns than this code has")
    path = registry / version / MODEL_FILE
    if not path.is_file():
        raise ModelError(f"model file missing: {path}")
    digest = sha256_file(path)
    if digest != entry.get("sha256"):
        raise ModelError(
            f"model file {path} does not match the registry (sha256 {digest[:12]}..., expected "
            f"{str(entry.get('sha256'))[:12]}...): refusing to load a modified or foreign file"
        )
    card_path = registry / version / "card.json"
    card = json.loads(card_path.read_text()) if card_path.exists() else {}
    return ModelRef(version, digest, path, card)


def load_model(version: str | None = None, registry: Path | None = None) -> LoadedModel:
    """Load ``version`` (default: the champion) after verifying hash and feature schema."""
    return _unpickle(verify_model(version, registry))


def _unpickle(ref: ModelRef) -> LoadedModel:
    """The model of ``ref``, whose file ``verify_model`` has just checked."""
    import joblib

    model = joblib.load(ref.path)  # safe only because the bytes are the ones just verified
    if not isinstance(model, PagescoreModel):
        raise ModelError(f"{ref.path} does not hold a pagescore model ({type(model).__name__})")
    return LoadedModel(ref.version, ref.sha256, ref.path, ref.card, model)


def load_scorer(version: str | None = None, registry: Path | None = None) -> LoadedModel:
    """What scoring needs of ``version``: its compiled form (``models.compiled``) when the
    registry has one, checked against its sha256 like the model file; else ``load_model``.
    The compiled form gives the same scores, decisions and reasons without importing LightGBM
    or unpickling anything."""
    from models.compiled import COMPILED_FILE, CompiledFormatError, CompiledModel

    registry = registry or registry_dir()
    ref = verify_model(version, registry)
    expected = read_index(registry)["versions"][ref.version].get("compiled_sha256")
    if not expected:
        return _unpickle(ref)
    path = ref.path.parent / COMPILED_FILE
    digest = sha256_file(path) if path.is_file() else "missing"
    if digest != expected:
        raise ModelError(f"compiled model {path} does not match the registry (sha256 "
                         f"{digest[:12]}..., expected {expected[:12]}...): refusing to use it")
    try:
        compiled = CompiledModel.load(path)
    except CompiledFormatError:  # written by another version of pagescore: not used
        return _unpickle(ref)
    except (ValueError, KeyError, OSError) as exc:
        raise ModelError(f"cannot read compiled model {path}: {exc}") from exc
    if compiled.model_sha256 != ref.sha256:
        raise ModelError(f"compiled model {path} was built from another model file "
                         f"({compiled.model_sha256[:12]}..., this version's is "
                         f"{ref.sha256[:12]}...): refusing to use it")
    if (compiled.feature_names != FEATURE_NAMES
            or compiled.feature_schema_version != FEATURE_SCHEMA_VERSION):
        raise ModelError(f"compiled model {path} is for other feature columns than this code")
    return LoadedModel(ref.version, ref.sha256, ref.path, ref.card, compiled)


def add_compiled(version: str, registry: Path | None = None) -> bool:
    """Write the compiled form of registered ``version``, from its own verified model file,
    and record its sha256 in the index: for versions registered before compiled forms existed
    or written by another format. ``False`` when the model has none
    (``models.compiled.compile_model``)."""
    registry = registry or registry_dir()
    loaded = load_model(version, registry)
    digest = _write_compiled(registry / loaded.version, loaded.model, loaded.sha256)
    if digest is None:
        return False
    index = read_index(registry)
    index["versions"][loaded.version]["compiled_sha256"] = digest
    write_json_atomic(registry / "index.json", index)
    return True


def _write_compiled(vdir: Path, model: PagescoreModel, model_sha256: str) -> str | None:
    """Write ``vdir/compiled.npz`` (synced, then renamed); its sha256, or ``None`` if the model
    has none."""
    from models.compiled import COMPILED_FILE, compile_model

    compiled = compile_model(model, model_sha256)
    if compiled is None:
        return None
    path = vdir / COMPILED_FILE
    fd, tmp = tempfile.mkstemp(dir=vdir, prefix=f".{COMPILED_FILE}.", suffix=".tmp")
    with os.fdopen(fd, "wb") as fh:
        fh.write(compiled.to_bytes())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return sha256_file(path)


def register(model: PagescoreModel, card: dict[str, Any], *, promote: bool,
             registry: Path | None = None, version: str | None = None) -> str:
    """Save a new version (model, its compiled form where it has one, card.json, card.md) and
    optionally make it the champion."""
    registry = registry or registry_dir()
    index = read_index(registry) if (registry / "index.json").exists() else {"versions": {}}
    version = version or _next_version(index, card["created"][:10], registry)
    vdir = registry / version
    vdir.mkdir(parents=True, exist_ok=False)
    tmp = vdir / f".{MODEL_FILE}.tmp"
    import joblib

    joblib.dump(model, tmp, compress=3)
    os.replace(tmp, vdir / MODEL_FILE)
    digest = sha256_file(vdir / MODEL_FILE)
    card = {**card, "version": version, "model_sha256": digest}
    write_json_atomic(vdir / "card.json", card)
    (vdir / "card.md").write_text(render_card_md(card))
    index["versions"][version] = {
        "sha256": digest,
        "feature_schema_version": model.feature_schema_version,
        "features": list(model.feature_names),
        "created": card["created"],
        "kind": model.kind,
    }
    compiled_digest = _write_compiled(vdir, model, digest)
    if compiled_digest is not None:
        index["versions"][version]["compiled_sha256"] = compiled_digest
    if promote or not index.get("champion"):
        index["champion"] = version
    write_json_atomic(registry / "index.json", index)
    return version


def _next_version(index: dict[str, Any], day: str, registry: Path) -> str:
    n = 1
    # Skip folders too: a register() interrupted before its index write leaves an unlisted
    # version folder, and reusing its name would fail mkdir on every later retrain that day.
    while f"{day}.{n}" in index.get("versions", {}) or (registry / f"{day}.{n}").exists():
        n += 1
    return f"{day}.{n}"


def render_card_md(card: dict[str, Any]) -> str:
    m, r = card["metrics"]["model"], card["metrics"]["rules_baseline"]
    th = card["thresholds"]
    lines = [
        f"# pagescore model {card.get('version', '?')}",
        "",
        f"- created: {card['created']}",
        f"- estimator: {card['estimator']['kind']} {json.dumps(card['estimator']['params'])}",
        f"- training data: {card['training_data']['rows']} labelled pages "
        f"({card['training_data']['positives']} publishable), sha256 "
        f"{card['training_data']['sha256'][:16]}",
        f"- feature schema: {card['feature_schema_version']}, phrase lists "
        f"{card['phrase_lists_digest']}",
        f"- thresholds: publish >= {th['publish']:.3f}, reject < {th['reject']:.3f} "
        f"(target publish precision {th['target_precision']})",
        f"- evaluation: {card['evaluation']}",
    ]
    if cal := card.get("calibration"):  # cards written before calibration was recorded lack it
        lines.append(f"- calibration: {cal['method']}; mean probability "
                     f"{cal['mean_probability']:.3f} vs positive rate {cal['positive_rate']:.3f}, "
                     f"Brier {cal['brier']:.3f}, ECE {cal['ece']:.3f}")
    lines += [
        "",
        "| metric | model | rules baseline |",
        "|---|---|---|",
    ]
    for key in ("roc_auc", "pr_auc", "precision_publish", "recall_publish"):
        lines.append(f"| {key} | {m[key]:.3f} | {r[key]:.3f} |")
    if "recall_at_precision" in m:
        lines += ["", "Publish recall reachable at a given publish precision (out of fold):", "",
                  "| precision | " + " | ".join(m["recall_at_precision"]) + " |",
                  "|---|" + "---|" * len(m["recall_at_precision"]),
                  "| recall | " + " | ".join(f"{v:.3f}" for v in m["recall_at_precision"].values())
                  + " |"]
    lines += ["", "Recall of not-publishable pages kept out of 'publish', per defect tag:", "",
              "| defect | pages | model | rules baseline |", "|---|---|---|---|"]
    for tag, v in m["defect_recall"].items():
        rb = r["defect_recall"].get(tag, {}).get("recall", float("nan"))
        lines.append(f"| {tag} | {v['n']} | {v['recall']:.3f} | {rb:.3f} |")
    lines += ["", "Libraries: " + ", ".join(f"{k} {v}" for k, v in card["libraries"].items()), ""]
    return "\n".join(lines)
