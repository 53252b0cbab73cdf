"""Views as tables: CSV, Excel (what convenors and funders actually open) and JSON.

CSV holds the view's rows (:func:`node.views.table`), one header line
first; lists become ``"; "``-joined text, ``None`` an empty cell, booleans
``true``/``false``. Text comes from other groups' signed summaries, so a
cell that a spreadsheet would run as a formula (starting ``=``, ``+``,
``-``, ``@``) gets a leading ``'`` in CSV (OWASP's advice against CSV
injection) and is stored as plain text in Excel. The Excel workbook has the
same rows on a sheet named after the view, and an ``about`` sheet with the
parameters, the totals or figures, and what was left out (the exclusion
rule, issue 6). JSON is the view's whole output.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from openpyxl import Workbook  # type: ignore[import-untyped]

from ..views import table

__all__ = ["cell", "csv_cell", "to_csv", "to_json", "to_xlsx", "write_sheet"]


def cell(value: Any) -> str | int | float:
    """One value as a table cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "; ".join(str(cell(v)) for v in value)
    if isinstance(value, int | float | str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str | int | float:
    """A table cell for CSV: formula-like text is neutralised with a leading ``'``."""
    out = cell(value)
    if isinstance(out, str) and out.startswith(_FORMULA_START):
        return "'" + out
    return out


def to_csv(result: dict[str, Any]) -> str:
    columns, rows = table(result)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([csv_cell(row[c]) for c in columns])
    return out.getvalue()


def to_json(result: dict[str, Any]) -> str:
    return json.dumps(result, ensure_ascii=False, indent=2) + "\n"


def _about(result: dict[str, Any]) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = [("view", result["view"])]

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}", inner)
        else:
            rows.append((prefix, cell(value)))

    for section in ("params", "totals", "figures", "excluded"):
        if isinstance(result.get(section), dict):
            walk(section, result[section])
    for name in ("total", "new_without_month"):
        if name in result:
            rows.append((name, result[name]))
    return rows


def _write(sheet: Any, rows: list[list[Any]]) -> None:
    """Write rows from the top; text is always text (openpyxl would make ``=…`` a formula)."""
    for r, values in enumerate(rows, start=1):
        for c, value in enumerate(values, start=1):
            target = sheet.cell(row=r, column=c, value=value)
            if isinstance(value, str):
                target.data_type = "s"


def to_xlsx(result: dict[str, Any]) -> bytes:
    columns, rows = table(result)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = result["view"][:31]
    _write(sheet, [columns, *([cell(row[c]) for c in columns] for row in rows)])
    _write(book.create_sheet("about"),
           [["item", "value"], *([name, value] for name, value in _about(result))])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def write_sheet(book: Workbook, title: str, columns: list[str],
                rows: list[list[Any]]) -> None:
    """Add a sheet of plain values to ``book`` (text kept as text)."""
    _write(book.create_sheet(title), [columns, *rows])
