"""The links of an HTML index page (nginx, Apache, python http.server), for ``adapters.https``.

Its own module so that ``html.parser`` (with ``html`` and ``html.entities``, ~3 ms) is imported
only when a server answers a listing with HTML: nginx's JSON index and every other command
never need it (issue 14's start-up).
"""

from __future__ import annotations

import html.parser

__all__ = ["LinkCollector"]


class LinkCollector(html.parser.HTMLParser):
    """Each link's ``href`` and the text after it up to the next tag (nginx: date and size)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str]] = []  # (href, text after the link up to the next tag)
        self._in_link = False
        self._after_link = False  # collecting the text that follows a link (nginx: date, size)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href is not None:
                self.links.append((href, ""))
                self._in_link = True
        elif tag in ("tr", "br", "li", "p", "div"):
            self._in_link = False
            if tag == "tr":  # (Apache's table: the next row is another file's)
                self._after_link = False
        elif tag == "td" and self._after_link and not self._in_link:
            # Apache's table: a cell boundary is a column boundary ("2026-11-30 11:07" then "345").
            href, text = self.links[-1]
            self.links[-1] = (href, text + " ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._in_link = False
            self._after_link = True

    def handle_data(self, data: str) -> None:
        if self.links and self._after_link and not self._in_link:
            href, text = self.links[-1]
            self.links[-1] = (href, text + data)
            if "\n" in data:
                self._after_link = False
