"""A tiny document model rendered both to Markdown and to self-contained HTML.

The report is a list of blocks (headings, paragraphs, tables, figures); each renderer walks the
same list, so ``report.md`` and ``report.html`` cannot drift apart. Figures are PNG files: the
Markdown links them, the HTML embeds them as base64 so that it is one self-contained file.
"""

from __future__ import annotations

__all__ = ["Heading", "Paragraph", "Table", "Figure", "Bullets", "Code", "to_markdown", "to_html"]

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence, Union


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Bullets:
    items: Sequence[str]


@dataclass(frozen=True)
class Code:
    text: str


@dataclass(frozen=True)
class Table:
    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]
    caption: str = ""


@dataclass(frozen=True)
class Figure:
    path: Path
    caption: str = ""
    width: int = field(default=720)


Block = Union[Heading, Paragraph, Bullets, Code, Table, Figure]


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if v != v:  # NaN
            return "-"
        return f"{v:.4g}"
    return str(v)


def to_markdown(blocks: Sequence[Block], base: Path) -> str:
    """Render ``blocks`` as Markdown; figure links are relative to ``base``."""
    out: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            out.append("#" * b.level + " " + b.text)
        elif isinstance(b, Paragraph):
            out.append(b.text)
        elif isinstance(b, Bullets):
            out.append("\n".join(f"- {item}" for item in b.items))
        elif isinstance(b, Code):
            out.append("```\n" + b.text.rstrip() + "\n```")
        elif isinstance(b, Table):
            lines = ["| " + " | ".join(b.columns) + " |", "|" + "---|" * len(b.columns)]
            lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in b.rows]
            if b.caption:
                lines.insert(0, f"*{b.caption}*\n")
            out.append("\n".join(lines))
        elif isinstance(b, Figure):
            rel = Path(b.path).resolve().relative_to(base.resolve()) if Path(b.path).resolve().is_relative_to(base.resolve()) else Path(b.path)
            out.append(f"![{b.caption}]({rel.as_posix()})" + (f"\n\n*{b.caption}*" if b.caption else ""))
    return "\n\n".join(out) + "\n"


_CSS = """body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:90%}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}caption{caption-side:top;font-style:italic;text-align:left}figure{margin:1em 0}
figcaption{font-style:italic;color:#555}pre{background:#f6f6f6;padding:8px;overflow-x:auto}"""


#: inline Markdown outside code spans -> HTML, applied to already escaped text
_INLINE = [
    (re.compile(r"\*\*(.+?)\*\*"), r"<strong>\1</strong>"),
    (re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])"), r"<em>\1</em>"),
    (re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)"), r"<a href='\2'>\1</a>"),
]


def inline_html(text: str) -> str:
    """Escape ``text`` and render its inline Markdown (code, bold, italics, links) as HTML.

    Code spans are rendered first and their contents shielded, so ``*`` inside backticks stays
    literal; the result is always well-formed (every opened tag is closed in the same text).
    """
    parts = re.split(r"(`[^`]+`)", text)
    out = []
    for part in parts:
        if len(part) > 1 and part.startswith("`") and part.endswith("`"):
            out.append(f"<code>{html.escape(part[1:-1])}</code>")
            continue
        s = html.escape(part)
        for pattern, repl in _INLINE:
            s = pattern.sub(repl, s)
        out.append(s)
    return "".join(out)


def to_html(blocks: Sequence[Block], title: str) -> str:
    """Render ``blocks`` as one self-contained HTML page (figures embedded as base64 PNG).

    Inline Markdown in paragraphs, bullets, captions and table cells is rendered
    (:func:`inline_html`), so the page shows what ``report.md`` means, not its syntax.
    """
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
           f"<style>{_CSS}</style></head><body>"]
    for b in blocks:
        if isinstance(b, Heading):
            out.append(f"<h{b.level}>{html.escape(b.text)}</h{b.level}>")
        elif isinstance(b, Paragraph):
            out.append(f"<p>{inline_html(b.text)}</p>")
        elif isinstance(b, Bullets):
            out.append("<ul>" + "".join(f"<li>{inline_html(i)}</li>" for i in b.items) + "</ul>")
        elif isinstance(b, Code):
            out.append(f"<pre>{html.escape(b.text)}</pre>")
        elif isinstance(b, Table):
            head = "".join(f"<th>{html.escape(str(c))}</th>" for c in b.columns)
            body = "".join("<tr>" + "".join(f"<td>{inline_html(_cell(v))}</td>" for v in row) + "</tr>"
                           for row in b.rows)
            cap = f"<caption>{inline_html(b.caption)}</caption>" if b.caption else ""
            out.append(f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif isinstance(b, Figure):
            data = base64.b64encode(Path(b.path).read_bytes()).decode("ascii")
            out.append(f"<figure><img alt='{html.escape(b.caption)}' style='max-width:100%' width='{b.width}' "
                       f"src='data:image/png;base64,{data}'><figcaption>{inline_html(b.caption)}</figcaption></figure>")
    out.append("</body></html>")
    return "\n".join(out)
