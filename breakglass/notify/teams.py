"""A notification as a Microsoft Teams *workflow* webhook message (an Adaptive Card).

Pure.  Teams' workflows ("Post to a channel when a webhook request is received") take a
``message`` whose one attachment is an Adaptive Card (``application/vnd.microsoft.card.
adaptive``, ``contentUrl`` null): version 1.4, a bold ``TextBlock`` title, the summary, a
``FactSet`` of the facts, and an ``Action.OpenUrl`` to the pull request or issue.  The older
connector "MessageCard" format is not used: workflows do not take it.

Adaptive Cards render a subset of Markdown in ``TextBlock`` and fact values, so text from the
cluster has the characters of that subset escaped and cannot become a link or emphasis.
"""

from __future__ import annotations

import re
from typing import Any, Final

from breakglass.notify import text
from breakglass.notify.events import Notification

SCHEMA: Final = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION: Final = "1.4"
CONTENT_TYPE: Final = "application/vnd.microsoft.card.adaptive"

#: what makes links, emphasis and code in the cards' Markdown (text is one line: no lists)
_MARKDOWN: Final = re.compile(r"([\\`*_\[\]~])")


def escape(value: str) -> str:
    """``value`` with the Markdown the cards render taken literally."""
    return _MARKDOWN.sub(r"\\\1", value)


def card(n: Notification) -> dict[str, Any]:
    """The Adaptive Card itself."""
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": text.title(n),
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
            "style": "heading",
        },
        {"type": "TextBlock", "text": escape(text.summary(n)), "wrap": True},
        {
            "type": "FactSet",
            "facts": [{"title": label, "value": escape(value)} for label, value in text.facts(n)],
        },
        {
            "type": "TextBlock",
            "text": escape(text.context(n)),
            "wrap": True,
            "isSubtle": True,
            "size": "Small",
        },
    ]
    content: dict[str, Any] = {
        "$schema": SCHEMA,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
    }
    url = text.link(n)
    if url:
        content["actions"] = [{"type": "Action.OpenUrl", "title": text.link_label(n), "url": url}]
    return content


def payload(n: Notification) -> dict[str, Any]:
    """The JSON body to POST to the workflow's URL."""
    return {
        "type": "message",
        "attachments": [{"contentType": CONTENT_TYPE, "contentUrl": None, "content": card(n)}],
    }
