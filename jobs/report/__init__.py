"""Run reports: a JSON-able summary, terminal tables and a self-contained HTML report.

``build_summary``/``print_summary``/``latest_partition`` live in ``jobs.report.summary`` and
``write_html_report`` in ``jobs.report.html`` (imported lazily: it pulls in altair).
"""

from __future__ import annotations

from typing import Any

from jobs.report.summary import build_summary, latest_partition, print_summary

__all__ = ["build_summary", "latest_partition", "print_summary", "write_html_report"]


def __getattr__(name: str) -> Any:
    if name == "write_html_report":
        from jobs.report.html import write_html_report

        return write_html_report
    raise AttributeError(name)
