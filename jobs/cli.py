"""`pagescore`: the command line. Exit codes: 0 done, 1 failed, 2 bad usage, 3 drift alarm
(nightly --fail-on-drift), 4 partition busy (another run holds it)."""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from jobs import __version__

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_DRIFT, EXIT_BUSY = 0, 1, 2, 3, 4

app = typer.Typer(
    name="pagescore",
    help=(
        "Score scraped web pages for publishability.\n\n"
        "Typical night: `pagescore nightly /data/crawl/today/*.jsonl.gz --out runs/` then "
        "`pagescore report --html report.html`. Inputs may be JSONL (.gz/.zst), Parquet, WARC "
        "(.warc/.warc.gz) or folders of .html/.htm/.txt files, in any mix.\n\n"
        "Exit codes: 0 done, 1 failed, 2 bad usage, 3 feature drift (--fail-on-drift), "
        "4 another run holds the partition."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
label_app = typer.Typer(help="The labelling loop: export pages worth a human look, import "
                             "their labels for the next retrain.", no_args_is_help=True)
app.add_typer(label_app, name="label")
err = Console(stderr=True, soft_wrap=True)  # one message a line: schedulers grep logs


def _fail(message: str, code: int) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


@app.command()
def nightly(
    inputs: Annotated[list[Path], typer.Argument(help="JSONL[.gz|.zst], Parquet, WARC files or "
                                                 "folders of .html/.htm/.txt", show_default=False)],
    out: Annotated[Path, typer.Option(help="Output root; the run writes OUT/date=YYYY-MM-DD/")] = Path("runs"),
    date: Annotated[str, typer.Option(help="Partition date (YYYY-MM-DD); default today")] = "",
    model: Annotated[str | None, typer.Option("--model", help="Model version (default: the "
                                              "registry's champion)")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes; 0 = one per CPU core")] = 0,
    batch_size: Annotated[int, typer.Option(help="Records per batch, lines of a plain JSONL "
                                            "file (the unit of resume)")] = 4000,
    batch_mb: Annotated[int, typer.Option(help="A batch also ends with the record (or JSONL "
                                          "line) that brings it to this many MiB of text and "
                                          "HTML (raw HTML pages are large)")] = 20,
    wait: Annotated[bool, typer.Option("--wait", help="Queue behind another run of the same "
                                       "partition instead of failing with exit 4")] = False,
    engine: Annotated[str, typer.Option(help="local (process pool) or ray (Ray Data)")] = "local",
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster address for --engine ray "
                                                    "(default: start a local Ray)")] = None,
    fail_on_drift: Annotated[bool, typer.Option(help="Exit 3 when a feature's PSI against the "
                                                "previous run exceeds 0.2")] = False,
    drift_min_pages: Annotated[int, typer.Option(help="--fail-on-drift only judges runs where "
                                                 "both this and the previous run scored at least "
                                                 "this many pages (PSI is noise on small runs)")] = 1000,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary")] = False,
) -> None:
    """Score the day's pages: writes scores.parquet, texts.parquet, quarantine.parquet and
    run.json to OUT/date=YYYY-MM-DD atomically. A killed run resumes when started again with
    the same arguments."""
    # The driver never multiplies matrices, but numpy's OpenBLAS starts a thread per core at
    # import that spins for a while (about 0.1 CPU s a run, of a 50-page run's 2.2). Read
    # when numpy is first imported, which is below.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from jobs.nightly import NightlyConfig, run_nightly
    from jobs.partition import OutputError, PartitionBusy
    from jobs.readers import InputError
    from jobs.summary import print_run_summary
    from models.registry import ModelError

    date = date or dt.date.today().isoformat()
    try:
        dt.date.fromisoformat(date)
    except ValueError:
        raise _fail(f"--date must be YYYY-MM-DD, got {date!r}", EXIT_USAGE) from None
    if engine not in ("local", "ray"):
        raise _fail(f"--engine must be local or ray, got {engine!r}", EXIT_USAGE)
    if ray_address and ray_address.startswith("ray://"):
        raise _fail("--ray-address ray://... (Ray Client) cannot run Ray Data: run the job on a "
                    "cluster node with --ray-address auto, or HOST:PORT (docs/scale-out.md)",
                    EXIT_USAGE)
    if batch_size < 1 or workers < 0:
        raise _fail("--batch-size must be >= 1 and --workers >= 0", EXIT_USAGE)
    if batch_mb < 1:
        raise _fail("--batch-mb must be >= 1", EXIT_USAGE)
    cfg = NightlyConfig(list(inputs), out, date, model, workers, batch_size, wait, engine,
                        ray_address, batch_mb << 20)
    try:
        if quiet:
            result = run_nightly(cfg)
        else:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            with Progress(SpinnerColumn(), TextColumn("[bold]scoring[/]"), BarColumn(),
                          MofNCompleteColumn(), TextColumn("records"), TimeElapsedColumn(),
                          console=err, transient=True) as bar:
                task = bar.add_task("pages", total=None)
                result = run_nightly(cfg, on_progress=lambda n, _i: bar.update(task, completed=n))
    except InputError as exc:
        raise _fail(str(exc), EXIT_USAGE) from None
    except PartitionBusy as exc:
        raise _fail(str(exc), EXIT_BUSY) from None
    except (OutputError, ModelError) as exc:
        raise _fail(str(exc), EXIT_FAILED) from None
    if not quiet:
        print_run_summary(result.partition, result.run)
    if fail_on_drift:
        from jobs.report.summary import build_summary

        summary = build_summary(result.partition)
        previous = summary.get("previous") or {}
        drifted = summary.get("drift", {}).get("drifted", [])
        if not previous:
            err.print("drift: no previous run to compare against")
        elif min(summary["scored"], previous.get("scored", 0)) < drift_min_pages:
            err.print(f"drift: not judged, fewer than {drift_min_pages} scored pages in this or "
                      f"the previous run (--drift-min-pages)")
        elif drifted:
            err.print(f"[bold yellow]drift:[/] {', '.join(drifted)} (PSI > 0.2 against "
                      f"{previous.get('date')})")
            raise typer.Exit(EXIT_DRIFT)


@app.command()
def retrain(
    labels: Annotated[Path | None, typer.Option(help="CSV id,label[,defects] for --pages")] = None,
    pages: Annotated[list[Path] | None, typer.Option(help="Pages to label with --labels (any "
                                                     "nightly input format); repeatable")] = None,
    target_precision: Annotated[float, typer.Option(help="Precision of 'publish' the thresholds "
                                                    "aim for on validation folds")] = 0.95,
    force: Annotated[bool, typer.Option("--force", help="Promote even if not better than the "
                                        "champion")] = False,
) -> None:
    """Train a new model on the shipped labelled pages (plus imported labels, plus
    --pages/--labels), compare a linear model and LightGBM on source-grouped folds, register
    it with a model card, and promote it only if it is not worse than the champion."""
    from jobs.labels import extra_training_rows
    from models.registry import registry_dir
    from models.train import load_training_table
    from models.train import retrain as do_retrain

    if (labels is None) != (not pages):
        raise _fail("--labels and --pages go together", EXIT_USAGE)
    try:
        extra = extra_training_rows(labels, pages or [])
    except ValueError as exc:
        raise _fail(str(exc), EXIT_USAGE) from None
    table = load_training_table(extra=extra)
    result = do_retrain(table, target_precision=target_precision, force=force,
                        progress=lambda m: err.print(f"[dim]{m}[/]"))
    m = result.card["metrics"]["model"]
    rb = result.card["metrics"]["rules_baseline"]
    Console().print(
        f"{result.message}\nmodel {result.card['estimator']['kind']}: ROC AUC {m['roc_auc']:.3f}, "
        f"PR AUC {m['pr_auc']:.3f}, publish precision {m['precision_publish']:.3f} recall "
        f"{m['recall_publish']:.3f}\nrules baseline: ROC AUC {rb['roc_auc']:.3f}, publish "
        f"precision {rb['precision_publish']:.3f} recall {rb['recall_publish']:.3f}\n"
        f"card: {registry_dir() / result.version / 'card.md'}"
    )


@app.command()
def report(
    run_dir: Annotated[Path | None, typer.Argument(help="A partition OUT/date=YYYY-MM-DD; "
                                                   "default: the latest under --out")] = None,
    out: Annotated[Path, typer.Option(help="Output root to look in")] = Path("runs"),
    html: Annotated[Path | None, typer.Option(help="Write a self-contained HTML report here")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON")] = False,
) -> None:
    """Summarise a run: decisions, scores, top reasons, sources, worst pages, and the change
    against the previous run (with feature drift)."""
    from jobs.report.summary import build_summary, latest_partition, print_summary

    part = run_dir or latest_partition(out)
    if part is None or not (part / "run.json").exists():
        raise _fail(f"no finished run found at {run_dir or out}", EXIT_USAGE)
    summary = build_summary(part)
    if as_json:
        import json

        sys.stdout.write(json.dumps(summary, indent=2, default=str) + "\n")
    else:
        print_summary(summary)
    if html:
        from jobs.report.html import write_html_report

        write_html_report(part, summary, html)
        err.print(f"HTML report: {html}")


@app.command()
def models() -> None:
    """List registered model versions and which one is the champion."""
    from models.registry import read_index

    index = read_index()
    for version, entry in sorted(index["versions"].items()):
        mark = "*" if version == index.get("champion") else " "
        print(f"{mark} {version}  {entry['kind']:<9} schema {entry['feature_schema_version']}  "
              f"sha256 {entry['sha256'][:12]}")


@label_app.command("export")
def label_export(
    run_dir: Annotated[Path | None, typer.Argument(help="Partition to pick pages from")] = None,
    out: Annotated[Path, typer.Option(help="Output root to look in")] = Path("runs"),
    n: Annotated[int, typer.Option("-n", help="How many pages")] = 50,
    to: Annotated[Path, typer.Option(help="Folder to write to_label.csv, pages.parquet, "
                                     "index.html")] = Path("labelling"),
) -> None:
    """Write the pages most worth a human look (scores nearest the thresholds, disagreements
    with the rules baseline) as a CSV to fill in plus an HTML page showing their flagged lines."""
    from jobs.labels import export_for_labelling
    from jobs.report.summary import latest_partition

    part = run_dir or latest_partition(out)
    if part is None:
        raise _fail(f"no finished run found under {out}", EXIT_USAGE)
    path = export_for_labelling(part, n, to)
    Console().print(f"wrote {path} (fill in label 0/1 and defects, then `pagescore label import "
                    f"{path} --who NAME`)")


@label_app.command("import")
def label_import(
    csv_path: Annotated[Path, typer.Argument(help="A filled-in to_label.csv")],
    who: Annotated[str, typer.Option(help="Who labelled these pages")] = "",
) -> None:
    """Validate and append labels (who/when/source) to data/labels/imported.parquet."""
    from jobs.labels import import_labels

    if not who:
        raise _fail("--who is required (labels record who made them)", EXIT_USAGE)
    try:
        added = import_labels(csv_path, who)
    except ValueError as exc:
        raise _fail(str(exc), EXIT_USAGE) from None
    Console().print(f"imported {added} labels; the next `pagescore retrain` uses them")


@app.command()
def version() -> None:
    """Print the pagescore version."""
    print(__version__)


def main() -> None:
    try:
        code = app(standalone_mode=False)  # returns the code of a typer.Exit
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("aborted")
        sys.exit(EXIT_FAILED)
    except Exception as exc:
        # Usage errors of typer's click (no such command, bad option) know how to show
        # themselves; typer may ship its own click, so look for the behaviour, not the class.
        if callable(getattr(exc, "show", None)) and hasattr(exc, "exit_code"):
            exc.show()
            sys.exit(EXIT_USAGE)
        err.print_exception()
        sys.exit(EXIT_FAILED)
    sys.exit(code if isinstance(code, int) else EXIT_OK)
