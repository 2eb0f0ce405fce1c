"""Rendering rows as a console table, Markdown, CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Sequence

FORMATS = ("table", "md", "csv", "json")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return str(value)


def to_markdown(rows: Sequence[dict], columns: Sequence[tuple[str, str]]) -> str:
    """columns: (key, header) pairs."""
    lines = ["| " + " | ".join(h.replace("|", "\\|") for _, h in columns) + " |",
             "|" + "|".join("---:" if _numeric(rows, k) else "---" for k, _ in columns) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(k)).replace("|", "\\|") for k, _ in columns) + " |")
    return "\n".join(lines) + "\n"


def to_csv(rows: Sequence[dict], columns: Sequence[tuple[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([k for k, _ in columns])
    for row in rows:
        writer.writerow(["" if row.get(k) is None else row.get(k) for k, _ in columns])
    return buffer.getvalue()


def to_json(rows: Sequence[dict]) -> str:
    return json.dumps(list(rows), indent=2, default=str) + "\n"


def to_rich(rows: Sequence[dict], columns: Sequence[tuple[str, str]], title: str | None = None,
            caption: str | None = None):
    """A rich Table whose cells wrap (fold) where the console is too narrow, never cut with an ellipsis."""
    from rich.table import Table

    table = Table(title=title, caption=caption)
    for key, header in columns:
        table.add_column(header, justify="right" if _numeric(rows, key) else "left", overflow="fold")
    for row in rows:
        table.add_row(*(_cell(row.get(k)) for k, _ in columns))
    return table


def _numeric(rows: Sequence[dict], key: str) -> bool:
    values = [r.get(key) for r in rows if r.get(key) is not None]
    return bool(values) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


UNLIMITED = 10_000
WIDE = 160  # off a terminal, a table up to this wide prints unwrapped; a wider one (prose) wraps between words


def offterminal_width(renderable, console) -> int:
    """The width to print ``renderable`` at where no terminal sets one: its natural width up to WIDE, never
    less than its minimum (the width at which no word, number or name has to be split) or the console's."""
    measured = console.measure(renderable, options=console.options.update_width(UNLIMITED))
    return max(console.width, measured.minimum, min(measured.maximum, WIDE))


def print_rich(renderable, console=None) -> None:
    """Print a table so that every cell reads whole. On a terminal rich fits it to the window (cells fold,
    see to_rich); off a terminal (a log file, CI, ``| tee``), where rich would assume 80 columns and squeeze
    every column, it is printed at offterminal_width."""
    from rich.console import Console

    console = console or Console()
    if console.is_terminal:
        console.print(renderable)
        return
    width = console.width
    console.width = offterminal_width(renderable, console)
    try:
        console.print(renderable)
    finally:
        console.width = width


def render(rows: Sequence[dict], columns: Sequence[tuple[str, str]], fmt: str, title: str | None = None) -> None:
    """Print rows in one of FORMATS to stdout."""
    if fmt == "table":
        print_rich(to_rich(rows, columns, title))
    elif fmt == "md":
        print(to_markdown(rows, columns), end="")
    elif fmt == "csv":
        print(to_csv(rows, columns), end="")
    elif fmt == "json":
        print(to_json(rows), end="")
    else:  # pragma: no cover - click restricts the choice
        raise ValueError(fmt)
