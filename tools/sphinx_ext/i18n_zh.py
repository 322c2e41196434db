"""Sphinx extension for the Chinese edition: what is a message, and the part captions.

The Chinese edition translates the book's prose, not the code: code cells, their outputs and code
comments stay as they are, and so do gaelib's docstrings, which the API page renders with autodoc.
Without this extension the gettext builder would extract every docstring paragraph of every gaelib
function (about 800 messages) into ``api.po``, a second copy of the docstrings that would go stale
whenever the code changes.

It marks as not translatable every text node that autodoc took from a docstring (its ``source``
reads ``.../gaelib/x.py:docstring of gaelib.x``: module docstrings) and every text node inside an
object description (``addnodes.desc``: signatures, parameter lists, function docstrings), before Sphinx's own ``Locale`` transform (priority 20) and before the gettext builder
extracts messages. The prose that ``api.md`` itself writes stays translatable.

Display math (``math_block``, from ```` ```{math} ```` and ``$$``) is marked the same way: an
equation is the same in both editions, so it is not a message that a translator could break (inline
``$...$`` math stays inside its paragraph's message; tools/check_translations.py checks that every
translation keeps it character for character).
"""

from __future__ import annotations

from docutils import nodes
from sphinx import addnodes
from sphinx.locale import init as init_locale
from sphinx.transforms import SphinxTransform
from sphinx.util.i18n import docname_to_domain


class MarkObjectDescriptionsUntranslatable(SphinxTransform):
    """Set ``translatable = False`` on docstring text and on the text inside every ``desc`` node."""

    default_priority = 10  # before sphinx.transforms.i18n.Locale (20)

    def apply(self, **kwargs) -> None:
        for node in self.document.findall(nodes.TextElement):
            if ":docstring of " in (node.source or ""):
                node["translatable"] = False
        for node in self.document.findall(nodes.math_block):
            node["translatable"] = False
        for desc in self.document.findall(addnodes.desc):
            for node in desc.findall(nodes.TextElement):
                node["translatable"] = False


class TranslateTocCaptions(SphinxTransform):
    """Translate the part captions of the table of contents ("Getting started", "Theory", ...).

    sphinx-external-toc inserts the root page's toctrees from _toc.yml in a transform of priority
    100, after Sphinx's ``Locale`` transform (20) has translated the page, so their captions would
    stay English in every sidebar. The gettext builder does extract them (into ``intro.po``); this
    transform, right after the insertion, looks them up in the same catalogue.
    """

    default_priority = 101  # after sphinx_external_toc.events.InsertToctrees (100)

    def apply(self, **kwargs) -> None:
        if not self.config.language or self.config.language == "en":
            return
        domain = docname_to_domain(self.env.docname, self.config.gettext_compact)
        dirs = [str(self.env.srcdir / d) for d in self.config.locale_dirs]
        catalog, has_catalog = init_locale(dirs, self.config.language, domain)
        if not has_catalog:
            return
        for toctree in self.document.findall(addnodes.toctree):
            caption = toctree.get("caption")
            if caption:
                toctree["caption"] = catalog.gettext(caption)


def setup(app):
    app.add_transform(MarkObjectDescriptionsUntranslatable)
    app.add_transform(TranslateTocCaptions)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
