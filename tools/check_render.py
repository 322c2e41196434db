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

Exit status 1 lists every problem. Nothing is written unless ``--screenshots`` is given.
"""

from __future__ import annotations

import argparse
import html.parser
import re
import shutil
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
        cmd = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=10000",
               "--dump-dom", page.as_uri()]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
        if screenshot is not None:
            subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=10000",
                            f"--screenshot={screenshot}", "--window-size=1280,1600", page.as_uri()],
                           capture_output=True, timeout=120)
    return out


def check_math(chromium: str, root: Path, pages: list[str], parsed: dict, shots: Path | None) -> list[str]:
    problems = []
    for name in pages:
        page = root / f"{name}.html"
        if not page.exists():
            problems.append(f"{name}: page not built")
            continue
        dom = rendered_dom(chromium, page, shots / f"{name.replace('/', '_')}.png" if shots else None)
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("root", nargs="?", default="_build/html")
    ap.add_argument("--pages", nargs="*", help="page paths without .html (default: every chapter)")
    ap.add_argument("--screenshots", type=Path, help="write a screenshot of each key page here")
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
    for p in problems:
        print("FAIL", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
