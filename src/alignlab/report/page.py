"""The page both reports write: one self-contained HTML file (figures inlined as base64, no network) and the
same content as markdown beside it (figures as PNG files next to it)."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from alignlab.runs.atomic import atomic_write_text

STYLE = ("body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}"
         "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}"
         "th{background:#f3f3f3}img{max-width:100%}pre{background:#f7f7f7;padding:8px;overflow-x:auto}"
         ".flag{color:#a40}.dim{color:#777}.warn{background:#fff4e0;border:1px solid #e0a040;padding:8px}")

Part = tuple[str, str]
"""(HTML, markdown) of one piece of the page."""


def save_figure(fig, out: Path) -> Path:
    """Lay out, write (PNG, 90 dpi) and close a matplotlib figure; returns `out`."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def table(headers: list[str], rows: list[list[str]]) -> Part:
    """One table; cells are plain text."""
    e = html.escape
    h = ("<table><tr>" + "".join(f"<th>{e(x)}</th>" for x in headers) + "</tr>"
         + "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in r) + "</tr>" for r in rows) + "</table>")
    md = ("| " + " | ".join(headers) + " |\n|" + "---|" * len(headers) + "\n"
          + "".join("| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in r) + " |\n" for r in rows))
    return h, md


def image(path: Path | None) -> Part:
    """A PNG inlined in the HTML and linked by file name in the markdown; nothing when `path` is None."""
    if path is None:
        return "", ""
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">', f"![{path.stem}]({path.name})"


class Page:
    """A report page built section by section, then written as report.html and report.md."""

    def __init__(self, title: str, description: str = ""):
        self.title = title
        self.html = [f"<h1>{html.escape(title)}</h1>" + (f"<p>{html.escape(description)}</p>" if description else "")]
        self.md = [f"# {title}\n" + (f"\n{description}\n" if description else "")]

    def section(self, heading: str, body: Part | None, note: str = "") -> None:
        self.html.append(f"<h2>{html.escape(heading)}</h2>" + (f"<p class=dim>{html.escape(note)}</p>" if note else ""))
        self.md.append(f"\n## {heading}\n\n" + (f"{note}\n\n" if note else ""))
        if body:
            self.add(body)

    def warn(self, text: str, bold: str = "") -> None:
        """A highlighted warning at the current place (e.g. "Quick scale", "Post hoc")."""
        lead_h = f"<b>{html.escape(bold)}</b> " if bold else ""
        lead_m = f"**{bold}** " if bold else ""
        self.html.append(f"<p class=warn>{lead_h}{html.escape(text)}</p>")
        self.md.append(f"\n> {lead_m}{text}\n")

    def add(self, part: Part, newline: bool = True) -> None:
        self.html.append(part[0])
        self.md.append(part[1] + ("\n" if newline else ""))

    def write(self, out: Path) -> dict:
        page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(self.title)}</title>"
                f"<style>{STYLE}</style></head><body>{''.join(self.html)}</body></html>")
        atomic_write_text(out / "report.html", page)
        atomic_write_text(out / "report.md", "".join(self.md))
        return {"html": str(out / "report.html"), "markdown": str(out / "report.md")}
