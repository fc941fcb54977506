"""Report sections and the one-file HTML page.

The page loads nothing: CSS is inline, every image is a `data:` URI (the PNGs are also written beside
it), and a Content-Security-Policy forbids any other fetch and any script.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328;
       max-width: 980px; margin: 0 auto; padding: 1.5em; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .2em;
     margin-top: 2em; } h3 { margin-bottom: .3em; }
nav a { margin-right: 1em; } .sub { color: #59636e; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: 13.5px; }
th, td { border: 1px solid #d0d7de; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.text { max-width: 560px; white-space: pre-wrap; word-break: break-word; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eaeef2; }
figcaption { color: #59636e; font-size: 13.5px; }
.missing { background: #fff8c5; border-left: 4px solid #d4a72c; padding: .4em .8em; margin: .5em 0; }
.note { color: #59636e; margin: .4em 0; }
dl { display: grid; grid-template-columns: max-content auto; gap: .2em 1em; } dt { font-weight: 600; }
dd { margin: 0; word-break: break-word; }
"""


@dataclass
class Section:
    """One part of the report: figures, tables and notes, in the order they were added.

    `missing` notes (what could not be shown, and why) are also listed at the top of the page.
    """

    title: str
    blocks: list[tuple] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def figure(self, path: Path, caption: str) -> None:
        self.blocks.append(("figure", Path(path), caption))

    def table(self, header: list[str], rows: list[list], caption: str = "") -> None:
        self.blocks.append(("table", header, rows, caption))

    def note(self, text: str) -> None:
        self.blocks.append(("note", text))

    def heading(self, text: str) -> None:
        self.blocks.append(("heading", text))

    def lack(self, text: str) -> None:
        """Records that something could not be shown; rendered in place and in the page's summary."""
        self.blocks.append(("missing", text))
        self.missing.append(text)

    @property
    def figures(self) -> list[Path]:
        return [b[1] for b in self.blocks if b[0] == "figure"]


def _anchor(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def _cell(value) -> str:
    if isinstance(value, float):
        return f'<td class="num">{value:.4f}</td>'
    if isinstance(value, int) and not isinstance(value, bool):
        return f'<td class="num">{value:,}</td>'
    if value is None:
        return '<td class="num">n/a</td>'
    text = str(value)
    cls = ' class="text"' if len(text) > 40 else ""
    return f"<td{cls}>{html.escape(text)}</td>"


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _block(block) -> str:
    kind = block[0]
    if kind == "figure":
        _, path, caption = block
        return (f'<figure><img src="{_data_uri(path)}" alt="{html.escape(caption, quote=True)}" '
                f'data-file="{html.escape(path.name)}"><figcaption>{html.escape(caption)} '
                f"({html.escape(path.name)})</figcaption></figure>")
    if kind == "table":
        _, header, rows, caption = block
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
        body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
        cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
        return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    if kind == "heading":
        return f"<h3>{html.escape(block[1])}</h3>"
    if kind == "missing":
        return f'<p class="missing">{html.escape(block[1])}</p>'
    return f'<p class="note">{html.escape(block[1])}</p>'


def render_page(title: str, facts: list[tuple[str, str]], missing: list[str], sections: list[Section]) -> str:
    """The whole page: a header with the run's facts, what is missing, then the sections."""
    nav = "".join(f'<a href="#{_anchor(s.title)}">{html.escape(s.title)}</a>' for s in sections)
    dl = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in facts)
    if missing:
        lacks = "<h2>What is missing</h2>" + "".join(f'<p class="missing">{html.escape(m)}</p>' for m in missing)
    else:
        lacks = '<p class="note">Every part of the report could be built.</p>'
    body = "".join(
        f'<section id="{_anchor(s.title)}"><h2>{html.escape(s.title)}</h2>{"".join(_block(b) for b in s.blocks)}'
        "</section>" for s in sections)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head>\n<body>"
            f"<h1>{html.escape(title)}</h1><nav>{nav}</nav><dl>{dl}</dl>{lacks}{body}</body></html>\n")
