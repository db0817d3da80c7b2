"""Safe CommonMark for text that comes from STAC catalogs (collection descriptions).

Owns the one Markdown renderer of the project: raw HTML is disabled (it shows as text), images
are disabled (no request to a host the catalog chooses), and a link becomes a link only when
its URL is http, https or mailto; anything else (``javascript:``, ``data:``, relative paths)
stays plain text. External links get ``rel="noopener noreferrer nofollow"``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from markupsafe import Markup

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

LINK_SCHEMES = frozenset({"http", "https", "mailto"})


def is_allowed_link(url: str) -> bool:
    """True for absolute http(s) URLs with a host and for mailto: addresses."""
    candidate = url.strip()
    try:
        parts = urlsplit(candidate)
    except ValueError:
        return False
    scheme = parts.scheme.lower()
    if scheme not in LINK_SCHEMES:
        return False
    return bool(parts.path) if scheme == "mailto" else bool(parts.netloc)


@lru_cache(maxsize=1)
def _renderer() -> MarkdownIt:
    from markdown_it import MarkdownIt  # imported when text is first rendered, not when a build starts

    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.disable("image")
    md.validateLink = is_allowed_link  # type: ignore[method-assign]  # refused links render as their literal source text

    def link_open(renderer, tokens, index, options, env):  # type: ignore[no-untyped-def]
        tokens[index].attrSet("rel", "noopener noreferrer nofollow")
        return renderer.renderToken(tokens, index, options, env)

    md.add_render_rule("link_open", link_open)
    return md


def render_markdown(text: str) -> Markup:
    """CommonMark ``text`` as HTML that is safe to put in a page without escaping again."""
    if not text.strip():
        return Markup("")
    return Markup(_renderer().render(text))
