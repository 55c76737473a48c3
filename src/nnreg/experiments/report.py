"""An experiment's report: a Markdown file and a self-contained HTML page with the same
content — one paragraph of what it shows, a table "measured vs the book", sections of
reasoning and settings, and figures (PNG files beside the Markdown, embedded as data URIs
in the HTML, which needs nothing else to display)."""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path

from matplotlib.figure import Figure

FIGURE_DPI = 80
"""Small enough that every committed report's figures stay well under a megabyte."""


@dataclass
class Report:
    """What an experiment found. ``table`` rows are lists of cells under ``columns``."""

    name: str
    title: str
    summary: str
    columns: list[str]
    table: list[list[str]]
    sections: list[tuple[str, str]] = field(default_factory=list)
    figures: list[tuple[str, str, Figure]] = field(default_factory=list)
    """(file stem, caption, figure)."""

    def __post_init__(self) -> None:
        # a column with nothing in any row (e.g. "the book" where the book reports nothing
        # for a quick run) is left out rather than shown as a column of dashes
        empty = [
            i
            for i in range(len(self.columns))
            if self.table and all(row[i] in ("—", "") for row in self.table)
        ]
        self.columns = [c for i, c in enumerate(self.columns) if i not in empty]
        self.table = [[c for i, c in enumerate(row) if i not in empty] for row in self.table]

    def write(self, out: str | Path) -> dict[str, Path]:
        """Write ``report.md``, ``report.html`` and one PNG per figure into ``out``."""
        out = Path(out)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ValueError(
                f"cannot create {out}: {error.strerror or error}; choose another --out"
            ) from None
        images = {}
        for stem, _, figure in self.figures:
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", dpi=FIGURE_DPI)
            images[stem] = buffer.getvalue()
            (out / f"{stem}.png").write_bytes(images[stem])
        paths = {"markdown": out / "report.md", "html": out / "report.html"}
        paths["markdown"].write_text(self.markdown(), encoding="utf-8")
        paths["html"].write_text(self.html(images), encoding="utf-8")
        return paths

    def markdown(self) -> str:
        lines = [f"# {self.title}", "", self.summary, "", "## Measured vs the book", ""]
        lines.append(_markdown_row(self.columns))
        lines.append("|" + "---|" * len(self.columns))
        lines += [_markdown_row(row) for row in self.table]
        for heading, text in self.sections:
            lines += ["", f"## {heading}", "", text]
        if self.figures:
            lines += ["", "## Figures"]
        for stem, caption, _ in self.figures:
            lines += ["", f"![{caption}]({stem}.png)", "", f"*{caption}*"]
        return "\n".join(lines) + "\n"

    def html(self, images: dict[str, bytes]) -> str:
        def paragraphs(text: str) -> str:
            return "".join(f"<p>{html.escape(part)}</p>" for part in text.split("\n\n") if part)

        head = "".join(f"<th>{html.escape(column)}</th>" for column in self.columns)
        rows = "".join(
            "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
            for row in self.table
        )
        body = [
            f"<h1>{html.escape(self.title)}</h1>",
            paragraphs(self.summary),
            "<h2>Measured vs the book</h2>",
            f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>",
        ]
        for heading, text in self.sections:
            body += [f"<h2>{html.escape(heading)}</h2>", paragraphs(text)]
        if self.figures:
            body.append("<h2>Figures</h2>")
        for stem, caption, _ in self.figures:
            data = base64.b64encode(images[stem]).decode("ascii")
            body.append(
                f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}">'
                f"<figcaption>{html.escape(caption)}</figcaption></figure>"
            )
        return HTML_PAGE.format(title=html.escape(self.title), body="\n".join(body))


def _markdown_row(cells: list[str]) -> str:
    """A table row; a ``|`` inside a cell (as in |w|) is escaped so it does not split it."""
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


HTML_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: sans-serif; max-width: 70rem; margin: 2rem auto; padding: 0 1rem;
       line-height: 1.5; color: #222; }}
table {{ border-collapse: collapse; margin: 1rem 0; }}
th, td {{ border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
thead {{ background: #f0f0f0; }}
img {{ max-width: 100%; }}
figcaption {{ font-style: italic; color: #555; }}
</style>
</head>
<body>
{body}
</body>
</html>
"""
