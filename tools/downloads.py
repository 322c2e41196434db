"""The book to take away: every chapter notebook in one zip, the whole book in one PDF, and their checks.

    python tools/downloads.py zip   [--out _build/html/downloads]
    python tools/downloads.py pdf   [--out _build/html/downloads] [--singlehtml _build/singlehtml]
    python tools/downloads.py check [--out _build/html/downloads]

``zip``: the notebooks of ``_toc.yml`` (chapters and assignments, with their committed outputs) under their
repository paths, plus README.md; fixed timestamps, so the same commit gives the same bytes.

``pdf``: prints the single-page build of the book (``jupyter-book build . --builder singlehtml``, which
``make pdf`` runs first) with headless Chromium (Debian's ``chromium``; CJK text needs ``fonts-noto-cjk``),
after MathJax has typeset it, to an A4 PDF.

``check`` fails unless: the zip holds exactly the table of contents' notebooks, each identical to the
repository's file; the PDF (``pdfinfo``/``pdffonts``/``pdftotext`` from poppler-utils) has every font
embedded, no raw TeX left in its text, every page of the table of contents by its title, in order, the
glossary's Chinese terms, and at least one page per chapter. It prints the page count and the sizes.
The sidebar of every page links both files (``_templates/downloads.html``), under these names.
"""

from __future__ import annotations

import argparse
import html.parser
import re
import shutil
import subprocess
import sys
import tempfile
import unicodedata
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PDF_NAME = "gae-course.pdf"
ZIP_NAME = "gae-course-notebooks.zip"
DEFAULT_OUT = ROOT / "_build" / "html" / "downloads"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# raw TeX that MathJax should have typeset (backslash commands and math delimiters)
RAW_TEX = re.compile(r"\\(?:frac|sum|mathbb|mathrm|hat|lambda|gamma|delta|begin|end|left|right|qquad|pi|theta)\b"
                     r"|\\\(|\\\)|\\\[|\\\]|\$\$")


def toc_files() -> list[str]:
    """Every file of _toc.yml (root first), without suffix, in book order."""
    text = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    root = re.search(r"^root:\s*(\S+)", text, re.M).group(1)
    return [root] + re.findall(r"^\s*-\s*file:\s*(\S+)", text, re.M)


def chapter_notebooks() -> list[Path]:
    return [ROOT / f"{f}.ipynb" for f in toc_files() if (ROOT / f"{f}.ipynb").exists()]


def build_zip(out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    target = out / ZIP_NAME
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as z:
        for path in chapter_notebooks() + [ROOT / "README.md"]:
            info = zipfile.ZipInfo(f"gae-course/{path.relative_to(ROOT).as_posix()}", date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, path.read_bytes())
    print(f"{target}: {len(chapter_notebooks())} notebooks, {target.stat().st_size / 1e6:.1f} MB")
    return target


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def build_pdf(out: Path, singlehtml: Path) -> Path:
    index = singlehtml / f"{toc_files()[0]}.html"   # the root page holds the whole book
    if not index.exists():
        sys.exit(f"no {index}: run `jupyter-book build . --builder singlehtml` first (make pdf does)")
    browser = chromium()
    if browser is None:
        sys.exit("chromium not found: install Debian's chromium and fonts-noto-cjk to build the PDF")
    out.mkdir(parents=True, exist_ok=True)
    target = out / PDF_NAME
    with tempfile.TemporaryDirectory() as profile:
        # 794 CSS px = the width of an A4 page: course.js fits the formulas to the width that is printed.
        subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--window-size=794,1123",
                        "--virtual-time-budget=120000", "--run-all-compositor-stages-before-draw",
                        "--no-pdf-header-footer", f"--print-to-pdf={target}", index.as_uri()],
                       capture_output=True, timeout=900, check=True)
    print(f"{target}: {target.stat().st_size / 1e6:.1f} MB")
    return target


class _Title(html.parser.HTMLParser):
    """The text of a page's first <h1>, without its permalink sign."""

    def __init__(self):
        super().__init__()
        self.depth, self.done, self.parts = 0, False, []

    def handle_starttag(self, tag, attrs):
        if tag == "h1" and not self.done:
            self.depth = 1
        elif self.depth and tag == "a" and "headerlink" in (dict(attrs).get("class") or ""):
            self.depth = -1

    def handle_endtag(self, tag):
        if tag == "a" and self.depth == -1:
            self.depth = 1
        elif tag == "h1" and self.depth:
            self.depth, self.done = 0, True

    def handle_data(self, data):
        if self.depth == 1:
            self.parts.append(data)


def page_title(html_file: Path) -> str:
    p = _Title()
    p.feed(html_file.read_text(encoding="utf-8"))
    return norm("".join(p.parts))


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip()


def run(*cmd: str) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def check_zip(path: Path) -> list[str]:
    if not path.exists():
        return [f"{path}: missing (make zip)"]
    problems = []
    want = {f"gae-course/{p.relative_to(ROOT).as_posix()}": p for p in chapter_notebooks()}
    with zipfile.ZipFile(path) as z:
        names = {n for n in z.namelist() if n.endswith(".ipynb")}
        for name in sorted(set(want) - names):
            problems.append(f"{path.name}: {name} missing")
        for name in sorted(names - set(want)):
            problems.append(f"{path.name}: {name} is not in _toc.yml")
        for name in sorted(names & set(want)):
            if z.read(name) != want[name].read_bytes():
                problems.append(f"{path.name}: {name} differs from the repository's file (make zip)")
    print(f"zip: {len(names)} notebooks, {path.stat().st_size / 1e6:.1f} MB")
    return problems


class _Code(html.parser.HTMLParser):
    """The text inside every <pre> of a page (code cells, outputs, listings)."""

    def __init__(self):
        super().__init__()
        self.depth, self.parts = 0, []

    def handle_starttag(self, tag, attrs):
        self.depth += tag == "pre"

    def handle_endtag(self, tag):
        self.depth -= tag == "pre" and self.depth > 0

    def handle_data(self, data):
        if self.depth:
            self.parts.append(data)


def code_text(page: Path) -> str:
    p = _Code()
    p.feed(page.read_text(encoding="utf-8"))
    return norm("".join(p.parts))


def check_pdf(path: Path, html_root: Path, singlehtml: Path) -> list[str]:
    if not path.exists():
        return [f"{path}: missing (make pdf)"]
    if shutil.which("pdftotext") is None:
        return ["pdftotext not found: install Debian's poppler-utils to check the PDF"]
    problems = []
    code = code_text(singlehtml / f"{toc_files()[0]}.html")
    pages = int(re.search(r"^Pages:\s+(\d+)", run("pdfinfo", str(path)), re.M).group(1))
    fonts = run("pdffonts", str(path)).splitlines()[2:]
    not_embedded = [f.split()[0] for f in fonts if len(f.split()) > 4 and f.split()[-5] != "yes"]
    if not fonts:
        problems.append("PDF: no fonts")
    if not_embedded:
        problems.append(f"PDF: fonts not embedded: {', '.join(sorted(set(not_embedded)))}")
    text = norm(run("pdftotext", "-enc", "UTF-8", str(path), "-"))
    # TeX in code cells and listings is code (matplotlib labels, docstrings): only TeX beyond what the
    # book's code blocks hold is math that MathJax left untypeset.
    raw = [m for m in set(RAW_TEX.findall(text)) if text.count(m) > code.count(m)]
    if raw:
        problems.append(f"PDF: raw TeX left in the text beyond its code blocks: {sorted(raw)[:8]}")
    flat = re.sub(r"\s+", "", text)   # a line break may fall inside a title or a Chinese term
    files = toc_files()
    position = 0
    for f in files:
        # pdftotext may put a run of CJK glyphs (drawn from another font) before the Latin text of the same
        # line, so a title is matched by its text up to its first CJK character or parenthesis
        title = re.split(r"[\u3000-\u9fff(（]", re.sub(r"\s+", "", page_title(html_root / f"{f}.html")))[0]
        at = flat.find(title, position) if title else -1
        if at < 0:
            problems.append(f"PDF: {f} ({title!r}) missing or out of order")
        else:
            position = at
    glossary = (ROOT / "glossary.md").read_text(encoding="utf-8")
    zh = sorted(set(re.findall(r"[\u4e00-\u9fff]{2,}", glossary)))
    missing_zh = [w for w in zh if w not in flat]
    if not zh or missing_zh:
        problems.append(f"PDF: {len(missing_zh)} of {len(zh)} Chinese glossary terms missing, e.g. {missing_zh[:5]}")
    chapters = [f for f in files if f.startswith("chapters/")]
    if pages < len(chapters):
        problems.append(f"PDF: {pages} pages for {len(chapters)} chapters")
    print(f"pdf: {pages} pages, {len(fonts)} fonts, all embedded: {not not_embedded}, "
          f"{len(files)} pages of the table of contents found in order: {position > 0 and not any('missing or out' in p for p in problems)}, "
          f"{len(zh) - len(missing_zh)} of {len(zh)} Chinese glossary terms, raw TeX beyond code: {len(raw)}, "
          f"{path.stat().st_size / 1e6:.1f} MB")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=["zip", "pdf", "check"])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--singlehtml", type=Path, default=ROOT / "_build" / "singlehtml")
    ap.add_argument("--html", type=Path, default=ROOT / "_build" / "html", help="the HTML build (page titles)")
    args = ap.parse_args()
    if args.what == "zip":
        build_zip(args.out)
        return 0
    if args.what == "pdf":
        build_pdf(args.out, args.singlehtml)
        return 0
    problems = check_zip(args.out / ZIP_NAME) + check_pdf(args.out / PDF_NAME, args.html, args.singlehtml)
    for p in problems:
        print("FAIL", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
