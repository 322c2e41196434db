"""Build the Chinese edition of the book into _build/html/zh_CN (the English one is _build/html).

Same sources, same _config.yml and _toc.yml as `jupyter-book build .`; the only differences are
Sphinx's `language` (zh_CN: the prose comes from locales/zh_CN/LC_MESSAGES/*.po, the theme's labels
and the search index are Chinese) and a doctree cache of its own, so that the two builds never
share a pickled environment.

    python tools/build_zh.py                 # like `make book`
    python tools/build_zh.py -n -W --keep-going   # strict, like `make test`
    python tools/build_zh.py --gettext       # the English message templates, _build/gettext/*.pot

The templates are extracted with the `gettext` builder in English (language unset), with a doctree
cache of their own too; `make locales` then merges them into the .po files with sphinx-intl, which
marks a message whose English changed as fuzzy and adds new messages untranslated.

Chinese search: Sphinx's zh search splits text into words with jieba when it is installed; without
it, Chinese text is not indexed at all (only Latin words), so jieba is in requirements.txt and this
script refuses to build without it. jieba's own dictionary splits the course's terms into parts
(优势函数 -> 优势 / 函数), and the search page looks a query word up whole, so a search for 优势函数
would find nothing: the Chinese terms of glossary.md are given to jieba as a user dictionary
(written to _build/zh_CN/search_terms.txt at every build), so that each is indexed whole as well.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LANGUAGE = "zh_CN"


def write_search_terms() -> Path:
    """Write the glossary's Chinese terms as a jieba user dictionary (one "word frequency" a line)."""
    sys.path.insert(0, str(ROOT / "tools"))
    from check_translations import glossary_terms  # the one parser of glossary.md's term cells

    words = sorted({form.replace(" ", "") for _, forms in glossary_terms() for form in forms
                    if re.search(r"[\u4e00-\u9fff]", form)})
    path = ROOT / "_build" / LANGUAGE / "search_terms.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    # A high frequency makes jieba keep the whole term; cut_for_search still indexes its parts.
    path.write_text("".join(f"{w} 100000\n" for w in words), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", dest="nitpicky", action="store_true", help="nitpicky mode")
    parser.add_argument("-W", dest="warningiserror", action="store_true", help="warnings are errors")
    parser.add_argument("--keep-going", action="store_true", help="with -W, report every warning")
    parser.add_argument("--gettext", action="store_true",
                        help="extract the English message templates into _build/gettext instead")
    args = parser.parse_args(argv)

    try:
        if not args.gettext:
            import jieba  # noqa: F401  (used by sphinx.search.zh)
    except ImportError:
        print("jieba is not installed: the Chinese search index would hold no Chinese words. "
              "pip install -r requirements.txt", file=sys.stderr)
        return 2

    from jupyter_book.sphinx import build_sphinx

    overrides = {
        "external_toc_path": str(ROOT / "_toc.yml"),
        "latex_individualpages": False,  # jupyter-book's CLI always passes it
    }
    if args.gettext:
        builder, outdir, cache = "gettext", ROOT / "_build" / "gettext", ".doctrees-gettext"
    else:
        # Sphinx writes into _build/zh_CN/html; the result is copied to _build/html/zh_CN below.
        # (myst-nb puts a notebook's image outputs in <outdir>/../jupyter_execute: building straight
        # into _build/html/zh_CN would leave that folder inside the English site.)
        builder, outdir, cache = "html", ROOT / "_build" / LANGUAGE / "html", f".doctrees-{LANGUAGE}"
        overrides["language"] = LANGUAGE
        # myst-nb's button over a hidden code cell ("Show code cell {type}"). The chapters hide only
        # cell sources (tag hide-input), so the Chinese label names the code.
        overrides["nb_code_prompt_show"] = "显示代码"
        overrides["nb_code_prompt_hide"] = "隐藏代码"
        overrides["html_search_options"] = {"dict": str(write_search_terms())}
    if args.nitpicky:
        overrides["nitpicky"] = True
    result = build_sphinx(
        str(ROOT),
        str(outdir),
        noconfig=True,
        path_config=str(ROOT / "_config.yml"),
        confoverrides=overrides,
        doctreedir=str(ROOT / "_build" / cache),
        builder=builder,
        warningiserror=args.warningiserror,
        keep_going=args.keep_going,
        force_all=True,
    )
    if builder == "html":  # published even when the strict build fails, as jupyter-book does
        published = ROOT / "_build" / "html" / LANGUAGE
        shutil.rmtree(published, ignore_errors=True)
        shutil.copytree(outdir, published)
        outdir = published
    if result:
        print(f"{builder} build failed ({result}); output in {outdir}", file=sys.stderr)
        return 1
    print(f"{builder}: {outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
