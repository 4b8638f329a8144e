"""Render a :class:`Document` as Markdown (plots linked) or as standalone HTML (plots inlined).

Strings in results come from users and plug-ins (model names, failure reasons), so both
renderers escape every one of them: HTML with ``html.escape``; Markdown by backslash-escaping
the characters that would start markup or raw HTML, so a model called ``<script>`` is text in
any renderer. The HTML file needs nothing else: CSS inline, PNGs as ``data:`` URIs.
"""

from __future__ import annotations

import base64
import html
import re

from longvgenbench.report.document import Block, Bullets, Cell, Document, Figure, Heading, Paragraph, Table

# Characters that open markup (or raw HTML, or entities) in CommonMark/GFM wherever they stand.
# Only what is needed is escaped, so the raw file stays readable: "_" only at word edges (inside
# a word, as in a file name, it is literal), "]" only where it would close a link text, "#" only
# at the start. Lone "[x, y]" cannot become a link: no link definitions are ever emitted.
_MD_SPECIAL = re.compile(r"[\\`*<>|&]|\](?=[(\[])|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])|^#")


def md_escape(text: str) -> str:
    flat = " ".join(str(text).split())  # newlines would break tables and lists
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), flat)


def _md_cell(cell: Cell) -> str:
    text = md_escape(cell.text)
    return f"**{text}**" if cell.bold and text else text


def _md_table(table: Table) -> list[str]:
    aligns = ["---:" if i >= table.numeric_from else ":---" for i in range(len(table.header))]
    lines = ["| " + " | ".join(md_escape(h) for h in table.header) + " |", "| " + " | ".join(aligns) + " |"]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table.rows]
    return lines


def _md_block(block: Block) -> list[str]:
    if isinstance(block, Heading):
        return ["#" * block.level + " " + md_escape(block.text)]
    if isinstance(block, Paragraph):
        text = md_escape(block.text)
        return [f"*{text}*" if block.emphasis else text]
    if isinstance(block, Bullets):
        return [f"- **{md_escape(k)}**: {md_escape(v)}" if k else f"- {md_escape(v)}" for k, v in block.items]
    if isinstance(block, Table):
        return _md_table(block)
    if isinstance(block, Figure):
        # the link target is ours (a sanitised file name), the caption is escaped text
        return [f"![{md_escape(block.caption)}]({block.relpath})"]
    raise TypeError(f"unknown block {type(block).__name__}")


def render_markdown(doc: Document) -> str:
    parts = ["# " + md_escape(doc.title)]
    for block in doc.blocks:
        parts.append("\n".join(_md_block(block)))
    return "\n\n".join(parts) + "\n"


_CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;max-width:1200px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.7em;border-bottom:2px solid #ddd;padding-bottom:.2em}h2{margin-top:1.8em;font-size:1.3em}
h3{font-size:1.05em}
table{border-collapse:collapse;margin:.8em 0;font-size:.9em;display:block;overflow-x:auto}
th,td{border:1px solid #ccc;padding:.3em .6em;vertical-align:top}th{background:#f3f3f3;text-align:left}
td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
tr:nth-child(even) td{background:#fafafa}
figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.9em;color:#555}ul{padding-left:1.4em}li{margin:.2em 0}p.note{color:#555}
""".strip()


def _html_table(table: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.header)
    body = []
    for row in table.rows:
        cells = []
        for i, cell in enumerate(row):
            text = html.escape(cell.text)
            if cell.bold:
                text = f"<strong>{text}</strong>"
            cls = ' class="num"' if i >= table.numeric_from else ""
            cells.append(f"<td{cls}>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _html_block(block: Block) -> str:
    if isinstance(block, Heading):
        return f"<h{block.level}>{html.escape(block.text)}</h{block.level}>"
    if isinstance(block, Paragraph):
        cls = ' class="note"' if block.emphasis else ""
        text = f"<em>{html.escape(block.text)}</em>" if block.emphasis else html.escape(block.text)
        return f"<p{cls}>{text}</p>"
    if isinstance(block, Bullets):
        items = "".join(
            f"<li><strong>{html.escape(k)}</strong>: {html.escape(v)}</li>" if k else f"<li>{html.escape(v)}</li>"
            for k, v in block.items
        )
        return f"<ul>{items}</ul>"
    if isinstance(block, Table):
        return _html_table(block)
    if isinstance(block, Figure):
        data = base64.b64encode(block.png.read_bytes()).decode("ascii")
        caption = html.escape(block.caption)
        return (f'<figure><img src="data:image/png;base64,{data}" alt="{caption}">'
                f"<figcaption>{caption}</figcaption></figure>")
    raise TypeError(f"unknown block {type(block).__name__}")


def render_html(doc: Document) -> str:
    title = html.escape(doc.title)
    body = "\n".join(_html_block(b) for b in doc.blocks)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n<style>\n{_CSS}\n</style>\n</head>\n<body>\n<h1>{title}</h1>\n{body}\n</body>\n</html>\n"
    )
