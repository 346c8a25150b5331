"""`xcircle export`: a circle as a Markdown report, CSV tables, iCalendar or JSON.

Only the command and the writing of files live here; the formats are `xcircle.export`.
"""

from __future__ import annotations

from pathlib import Path

import click
import orjson

from xcircle.cli.common import echo, emit_json, json_option, session


@click.command()
@click.argument("circle_ref", metavar="CIRCLE")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("markdown", "csv", "ics", "json")),  # xcircle.export.FORMATS
    required=True,
    help="markdown report, csv tables, ics calendar, json detail.",
)
@click.option(
    "--what",
    type=click.Choice(("all", "goals", "attendance")),
    default="all",
    show_default=True,
    help="CSV only: which table.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to FILE (private, 0600) instead of stdout.",
)
@json_option
def export(circle_ref: str, fmt: str, what: str, output: Path | None, as_json: bool) -> None:
    """Export a circle: Markdown report, CSV, iCalendar or JSON.

    \b
    CSV holds two tables, goals (one row per goal, latest progress) and attendance
    (one row per held meeting and member). With -o FILE and --what all, both are
    written next to FILE as STEM-goals.csv and STEM-attendance.csv; with --what
    goals|attendance, that one table goes to FILE or stdout. On stdout, CSV needs
    --what goals or --what attendance (one table per stream).
    """
    from xcircle.export import CSV_TABLES, render, write_private

    if fmt == "csv" and what == "all" and output is None and not as_json:
        raise click.UsageError("CSV on stdout is one table: add --what goals|attendance or -o")
    with session(read_only=True) as svc:
        cid = svc.circles.resolve(circle_ref)
        detail = svc.detail(cid)
        now = svc.now()
    tables = (CSV_TABLES if what == "all" else (what,)) if fmt == "csv" else ("",)
    outputs = {t: render(detail, fmt, table=t or "goals", now=now) for t in tables}
    if output is None:
        if as_json:
            # A JSON export is a value inside the answer, not a string holding JSON text.
            contents = {
                t: orjson.loads(b) if fmt == "json" else b.decode() for t, b in outputs.items()
            }
            content = contents if fmt == "csv" and what == "all" else next(iter(contents.values()))
            emit_json({"circle": cid, "format": fmt, "content": content})
        else:
            # Exports are already terminal-safe: escaped (JSON, ICS) or stripped (Markdown, CSV).
            click.echo(next(iter(outputs.values())), nl=False)
        return
    written = []
    for name, data in outputs.items():
        path = output if len(outputs) == 1 else csv_path(output, name)
        write_private(path, data)
        written.append(str(path))
    if as_json:
        emit_json({"circle": cid, "format": fmt, "files": written})
    else:
        for path_text in written:
            echo(f"Wrote {path_text}")


def csv_path(output: Path, table_name: str) -> Path:
    """`report.csv` -> `report-goals.csv` (the one FILE names both tables)."""
    stem = output.stem if output.suffix.lower() == ".csv" else output.name
    return output.with_name(f"{stem}-{table_name}.csv")
