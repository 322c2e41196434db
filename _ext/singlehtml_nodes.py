"""Let the single-page HTML build (the source of the PDF, ``make pdf``) render every node the HTML build does.

Sphinx looks up node visitors by builder name first and falls back to the format ("html") only when no
extension registered any visitor for that name. One extension registers some for "singlehtml", so the
visitors that sphinx-proof, sphinx-exercise and myst-nb register for "html" (``algorithm_node``,
``HideCodeCellNode``, ...) are not found and the build stops with ``unknown node type``. This merges the
"html" visitors under "singlehtml" when that builder starts (its own registrations win).
"""

from __future__ import annotations


def merge_html_visitors(app):
    if app.builder.name != "singlehtml":
        return
    handlers = app.registry.translation_handlers
    merged = dict(handlers.get("html", {}))
    merged.update(handlers.get("singlehtml", {}))
    handlers["singlehtml"] = merged


def setup(app):
    app.connect("builder-inited", merge_html_visitors)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
