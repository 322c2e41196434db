"""Check the built book the way a reader sees it, in headless Chromium.

    python tools/check_render.py [_build/html] [--pages intro chapters/worked_example ...] [--screenshots DIR]

For every page of the book:
* internal links: every ``href`` to a page of the book points at an existing file, and
  every ``#anchor`` exists in the target page;
* figures: every ``<img>`` of a page exists on disk and is a readable PNG/SVG file.

For the key pages (``--pages``; default: the front pages and every chapter), Chromium (Debian's
``chromium``; install it with ``apt-get install chromium``) loads the page from
disk with the network off, runs MathJax, and the rendered DOM is checked:
* math is typeset (``mjx-container`` elements exist, as many as the page has math
  spans) and no raw TeX delimiters are left in the text;
* the MathJax script came from the book itself (``_static/mathjax``), not a CDN.

Then every key page is laid out at each ``--widths`` (default 1280 and 400 CSS px, the second a phone) in an
iframe of exactly that width, and ``tools/render_measure.js`` measures the typeset page against the
article's text column. It fails on:
* a display equation that ends past the column, is clipped, or runs under its equation number;
* a code cell, output or literal block that needs sideways scrolling or ends past the column;
* a table that ends past the column or needs sideways scrolling;
* a figure that ends past the column, or whose text is drawn smaller than ``--min-text-px`` on screen at a
  desktop width (>= 1000 px). The size of a figure's smallest text on screen is
  ``pt * dpi / 72 * shown_width / natural_width``: ``dpi`` from the PNG's pHYs chunk, ``pt`` the smallest
  font size the cell that drew it asks for (``fontsize=``/``labelsize=``/``size=`` in the cell, in the
  notebook's functions it calls, or in gaelib's; matplotlib's default 10 pt for tick labels and legends
  otherwise). At phone width figures must fit and link to their full-size image (one tap to zoom); their
  text size is printed, not enforced;
* more than one visible search field in the page header, or a page that scrolls sideways.

Exit status 1 lists every problem. Nothing is written unless ``--screenshots`` is given.
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import hashlib
import html
import html.parser
import json
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class _Collector(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.images, self.ids, self.scripts = [], [], set(), []
        self.math_spans = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag == "img" and a.get("src"):
            self.images.append(a["src"])
        if tag == "script" and a.get("src"):
            self.scripts.append(a["src"])
        if tag in ("span", "div") and "math" in (a.get("class") or "").split():
            self.math_spans += 1


def parse(path: Path) -> _Collector:
    c = _Collector()
    c.feed(path.read_text(encoding="utf-8"))
    return c


def check_static(root: Path) -> tuple[list[str], dict]:
    problems, parsed = [], {}
    pages = sorted(p for p in root.rglob("*.html") if "_static" not in p.parts and "_sources" not in p.parts)
    for p in pages:
        parsed[p] = parse(p)
    for p, c in parsed.items():
        for href in c.links:
            u = urlparse(href)
            if u.scheme or href.startswith("mailto:"):
                continue
            target = (p.parent / unquote(u.path)).resolve() if u.path else p
            if not target.exists():
                problems.append(f"{p.relative_to(root)}: broken link {href}")
                continue
            if u.fragment and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else parse(target).ids
                if u.fragment not in ids:
                    problems.append(f"{p.relative_to(root)}: link {href}: no #{u.fragment} in {target.name}")
        for src in c.images:
            if urlparse(src).scheme == "data":
                continue
            f = (p.parent / unquote(urlparse(src).path)).resolve()
            if not f.exists():
                problems.append(f"{p.relative_to(root)}: missing image {src}")
            elif f.suffix == ".png" and not f.read_bytes().startswith(b"\x89PNG\r\n\x1a\n"):
                problems.append(f"{p.relative_to(root)}: {src} is not a PNG file")
        for src in c.scripts:
            if "mathjax" in src.lower() and urlparse(src).scheme:
                problems.append(f"{p.relative_to(root)}: MathJax loaded from the network: {src}")
    return problems, parsed


def rendered_dom(chromium: str, page: Path, screenshot: Path | None) -> str:
    with tempfile.TemporaryDirectory() as profile:
        cmd = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=30000",
               "--dump-dom", page.as_uri()]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
        if screenshot is not None:
            subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=10000",
                            f"--screenshot={screenshot}", "--window-size=1280,1600", page.as_uri()],
                           capture_output=True, timeout=120)
    return out


def check_math(chromium: str, root: Path, pages: list[str], parsed: dict, shots: Path | None) -> list[str]:
    problems = []
    missing = [name for name in pages if not (root / f"{name}.html").exists()]
    problems += [f"{name}: page not built" for name in missing]
    pages = [name for name in pages if name not in missing]
    with concurrent.futures.ThreadPoolExecutor(max_workers=JOBS) as pool:
        doms = list(pool.map(lambda name: rendered_dom(
            chromium, root / f"{name}.html", shots / f"{name.replace('/', '_')}.png" if shots else None), pages))
    for name, dom in zip(pages, doms):
        page = root / f"{name}.html"
        expected = parsed[page.resolve()].math_spans if page.resolve() in parsed else 0
        typeset = dom.count("<mjx-container")
        body = re.sub(r"<(script|style)\b.*?</\1>", "", dom, flags=re.S)
        text = re.sub(r"<[^>]+>", " ", body)
        raw = re.findall(r"\\\(|\\\[|\$\$", text)
        status = f"{name}: {typeset} formulas typeset (page has {expected} math elements)"
        if expected and typeset < expected:
            problems.append(f"{status}: math not rendered")
        elif raw:
            problems.append(f"{status}: raw TeX delimiters left in the text ({len(raw)})")
        else:
            print("ok  ", status)
    return problems


MEASURE_JS = Path(__file__).with_name("render_measure.js")
JOBS = 2               # Chromium processes at a time
MIN_TEXT_PX = 9.0      # smallest readable figure text on a desktop screen, CSS px
DEFAULT_TEXT_PT = 10.0  # matplotlib's tick labels and legends ("medium")
NAMED_PT = {"xx-small": 5.79, "x-small": 6.94, "small": 8.33, "medium": 10.0, "large": 12.0,
            "x-large": 14.4, "xx-large": 17.28, "smaller": 8.33, "larger": 12.0}
SIZE_KEYWORDS = {"fontsize", "labelsize", "size", "title_fontsize"}


def _sizes_in(tree: ast.AST) -> list[float]:
    """Font sizes given as keyword constants (``fontsize=8``, ``labelsize="small"``) anywhere in ``tree``."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg in SIZE_KEYWORDS and isinstance(node.value, ast.Constant):
            v = node.value.value
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                out.append(float(v))
            elif isinstance(v, str) and v in NAMED_PT:
                out.append(NAMED_PT[v])
    return out


def _parse(src: str) -> ast.AST | None:
    src = "\n".join("pass" if l.lstrip().startswith(("%", "!")) else l for l in src.splitlines())
    try:
        return ast.parse(src)
    except SyntaxError:
        return None


def _function_sizes(trees: list[ast.AST]) -> dict[str, float]:
    """Smallest font size used inside each function defined in ``trees``, by function name."""
    sizes: dict[str, float] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found = _sizes_in(node)
                if found:
                    sizes[node.name] = min(found + [sizes.get(node.name, found[0])])
    return sizes


def _called(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            names.add(f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", ""))
    return names


def png_dpi(data: bytes) -> float:
    """Dots per inch from a PNG's pHYs chunk (matplotlib writes it); 100 (matplotlib's default) if absent."""
    i = data.find(b"pHYs")
    if i < 0:
        return 100.0
    x, _, unit = struct.unpack(">IIB", data[i + 4:i + 13])
    return x * 0.0254 if unit == 1 else 100.0


def figure_text_pt(source_root: Path) -> dict[str, tuple[float, str]]:
    """sha1 of every PNG output of every chapter -> (smallest font size in pt, 'notebook cell N')."""
    import base64
    import nbformat
    lib = [t for t in (_parse(p.read_text(encoding="utf-8")) for p in sorted((source_root / "gaelib").rglob("*.py")))
           if t is not None]
    lib_sizes = _function_sizes(lib)
    out = {}
    for nb_path in sorted((source_root / "chapters").rglob("*.ipynb")):
        nb = nbformat.read(nb_path, as_version=4)
        trees = [(i, _parse(c.source)) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
        own = _function_sizes([t for _, t in trees if t is not None])
        for i, tree in trees:
            cell = nb.cells[i]
            pngs = [o["data"]["image/png"] for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
            if not pngs or tree is None:
                continue
            sizes = _sizes_in(tree) + [DEFAULT_TEXT_PT]
            for name in _called(tree):
                sizes += [d[name] for d in (own, lib_sizes) if name in d]
            for b64 in pngs:
                data = base64.b64decode(b64)
                out[hashlib.sha1(data).hexdigest()] = (min(sizes), f"{nb_path.relative_to(source_root)} cell {i}")
    return out


def measure_page(chromium: str, page: Path, width: int) -> dict | None:
    """Lay out ``page`` in an iframe exactly ``width`` CSS px wide and run render_measure.js in it."""
    copy = page.with_name(f"__measure_{page.stem}_{width}.html")
    host = page.with_name(f"__host_{page.stem}_{width}.html")
    text = page.read_text(encoding="utf-8")
    copy.write_text(text.replace("</body>", f'<script src="{MEASURE_JS.as_uri()}"></script></body>'), encoding="utf-8")
    host.write_text(
        '<!DOCTYPE html><html><body style="margin:0">'
        f'<iframe src="{copy.name}" style="border:0;width:{width}px;height:1200px"></iframe><script>'
        'window.addEventListener("message", function (e) { var p = document.createElement("pre");'
        ' p.id = "__render_measure"; p.textContent = e.data; document.body.appendChild(p); });'
        '</script></body></html>', encoding="utf-8")
    try:
        with tempfile.TemporaryDirectory() as profile:
            dom = subprocess.run([chromium, *CHROMIUM_FLAGS, "--hide-scrollbars", f"--user-data-dir={profile}",
                                  "--virtual-time-budget=20000", f"--window-size={max(width, 500) + 20},1300",
                                  "--dump-dom", host.as_uri()], capture_output=True, text=True, timeout=180).stdout
    finally:
        copy.unlink(missing_ok=True)
        host.unlink(missing_ok=True)
    m = re.search(r'<pre id="__render_measure">(.*?)</pre>', dom, re.S)
    return json.loads(html.unescape(m.group(1))) if m else None


def check_layout(chromium: str, root: Path, pages: list[str], widths: list[int], min_px: float,
                 fonts: dict[str, tuple[float, str]]) -> tuple[list[str], list[dict]]:
    problems, rows = [], []
    jobs = [(name, width) for name in pages if (root / f"{name}.html").exists() for width in widths]
    with concurrent.futures.ThreadPoolExecutor(max_workers=JOBS) as pool:  # Chromium processes, in parallel
        measured = list(pool.map(lambda job: measure_page(chromium, root / f"{job[0]}.html", job[1]), jobs))
    for (name, width), m in zip(jobs, measured):
        page = root / f"{name}.html"
        if True:
            where = f"{name} @{width}px"
            if m is None:
                problems.append(f"{where}: the page could not be measured")
                continue
            row = {"page": name, "width": width, "column": m["column"], "equations": len(m["equations"]),
                   "code": len(m["code"]), "tables": len(m["tables"]), "figures": len(m["figures"]),
                   "bad": 0, "min_text_px": None, "shrunk_eq": 0}
            bad = []
            for e in m["equations"]:
                if not e.get("typeset", True):
                    bad.append(f"equation {e['what']} not typeset")
                elif e["overflow"] > 1:
                    bad.append(f"equation {e['what']} ends {e['overflow']} px past its column")
                elif e["under_number"] > 1:
                    bad.append(f"equation {e['what']} runs {e['under_number']} px under its number")
                row["shrunk_eq"] += e.get("scale", 1) < 0.999
            for c in m["code"]:
                if c["overflow"] > 1:
                    bad.append(f"{c['kind']} block {c['what']} needs {c['overflow']} px of sideways scrolling")
            for t in m["tables"]:
                if t["overflow"] > 1:
                    bad.append(f"table {t['what']} is {t['overflow']} px wider than its column")
            for f in m["figures"]:
                if not f["loaded"]:
                    bad.append(f"figure {f['src']} did not load")
                    continue
                if f["overflow"] > 1:
                    bad.append(f"figure {f['src']} ends {f['overflow']} px past its column")
                data = (page.parent / unquote(urlparse(f["src"]).path)).read_bytes()
                pt, origin = fonts.get(hashlib.sha1(data).hexdigest(), (DEFAULT_TEXT_PT, f["src"]))
                px = pt * png_dpi(data) / 72 * f["shown"] / f["natural"]
                row["min_text_px"] = round(min(px, row["min_text_px"] or px), 1)
                if width >= 1000 and px < min_px - 1e-9:
                    bad.append(f"figure {origin}: its {pt:g} pt text is drawn at {px:.1f} px "
                               f"(shown {f['shown']:.0f} of {f['natural']} px; at least {min_px:g} px)")
                if width < 1000 and not f.get("linked", True):
                    bad.append(f"figure {origin} is not linked to its full-size image")
            if m["page_scroll"] > 1:
                culprits = "; ".join(f"{e['what']} (+{e['overflow']} px)" for e in m.get("sticking_out", []))
                bad.append(f"the page scrolls sideways by {m['page_scroll']} px: {culprits or 'cause not found'}")
            if m["search_boxes"] > 1:
                bad.append(f"{m['search_boxes']} search fields in the header")
            row["bad"] = len(bad)
            rows.append(row)
            problems += [f"{where}: {b}" for b in bad]
            print(f"{'ok  ' if not bad else 'FAIL'} {where}: column {m['column']} px, {len(m['equations'])} equations "
                  f"({row['shrunk_eq']} scaled to fit), {len(m['code'])} code/output blocks, {len(m['tables'])} tables, "
                  f"{len(m['figures'])} figures (smallest text {row['min_text_px']} px): {len(bad)} problems")
    return problems, rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("root", nargs="?", default="_build/html")
    ap.add_argument("--pages", nargs="*", help="page paths without .html (default: every chapter)")
    ap.add_argument("--screenshots", type=Path, help="write a screenshot of each key page here")
    ap.add_argument("--widths", type=int, nargs="*", default=[1280, 400], help="CSS px widths to lay out (default 1280 400)")
    ap.add_argument("--min-text-px", type=float, default=MIN_TEXT_PX, help=f"smallest figure text (default {MIN_TEXT_PX})")
    ap.add_argument("--source", type=Path, help="the book's source folder (default: two levels above ROOT)")
    ap.add_argument("--json", type=Path, help="write the layout measurements here")
    args = ap.parse_args()
    root = Path(args.root).resolve()
    if not (root / "intro.html").exists():
        print(f"no built book at {root}: run `make book` first")
        return 1
    problems, parsed = check_static(root)
    print(f"checked links and images of {len(parsed)} pages")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    pages = args.pages or ["intro", "notation", "run_locally", "glossary"] + sorted(
        str(p.relative_to(root).with_suffix("")) for p in (root / "chapters").rglob("*.html"))
    if chromium is None:
        problems.append("chromium not found: install Debian's `chromium` package to check rendering")
    else:
        if args.screenshots:
            args.screenshots.mkdir(parents=True, exist_ok=True)
        problems += check_math(chromium, root, pages, parsed, args.screenshots)
        if args.widths:
            fonts = figure_text_pt((args.source or root.parent.parent).resolve())
            layout, rows = check_layout(chromium, root, pages, args.widths, args.min_text_px, fonts)
            problems += layout
            if args.json:
                args.json.write_text(json.dumps(rows, indent=1))
    for p in problems:
        print("FAIL", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
