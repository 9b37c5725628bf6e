"""A notification as a Slack incoming-webhook message (Block Kit).

Pure.  The message has a fallback ``text`` (what notifications and screen readers show) and
``blocks``: a ``header`` (breakglass's words only), a ``section`` with the summary and the
facts as fields, an ``actions`` block with a button to the pull request or issue, and a
``context`` line.  Slack's limits are kept: a header's plain text at most 150 characters, a
section's mrkdwn at most 3000, at most 10 fields of at most 2000 each, a button's text at most
75 and its URL at most 3000, at most 10 context elements.

Everything that comes from the cluster (names, users, breakglass's reason text quoting them)
has ``&``, ``<`` and ``>`` escaped, so nothing in it can become a link, a mention or markup.
"""

from __future__ import annotations

from typing import Any, Final

from breakglass.notify import text
from breakglass.notify.events import Notification

HEADER_LIMIT: Final = 150
SECTION_LIMIT: Final = 3000
FIELD_LIMIT: Final = 2000
MAX_FIELDS: Final = 10
BUTTON_TEXT_LIMIT: Final = 75
URL_LIMIT: Final = 3000
CONTEXT_LIMIT: Final = 10


def escape(value: str) -> str:
    """Slack's three control characters as entities (``&`` first)."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fit(escaped: str, limit: int) -> str:
    """``escaped`` cut to at most ``limit`` characters, never inside an entity."""
    if len(escaped) <= limit:
        return escaped
    cut = escaped[: limit - 1]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


def code(value: str) -> str:
    """``value`` as inline code; a backtick in it would end the span early."""
    return "`" + escape(value.replace("`", "'")) + "`"


_CODE_FACTS: Final = frozenset(
    {"Object", "Application", "By", "Session", "Changed", "Issue", "Pull request"}
)


def _field(label: str, value: str) -> dict[str, Any]:
    shown = code(value) if label in _CODE_FACTS else escape(value)
    return {"type": "mrkdwn", "text": fit(f"*{label}*\n{shown}", FIELD_LIMIT)}


def payload(n: Notification) -> dict[str, Any]:
    """The JSON body to POST to the incoming webhook."""
    title = text.title(n)
    summary = text.summary(n)
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": fit(title, HEADER_LIMIT), "emoji": False},
        },
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": fit(escape(summary), SECTION_LIMIT)},
            "fields": [_field(label, value) for label, value in text.facts(n)][:MAX_FIELDS],
        },
    ]
    url = text.link(n)
    if url and len(url) <= URL_LIMIT:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {
                            "type": "plain_text",
                            "text": fit(text.link_label(n), BUTTON_TEXT_LIMIT),
                        },
                        "url": url,
                        "action_id": "breakglass-open-link",
                    }
                ],
            }
        )
    blocks.append(
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": fit(escape(text.context(n)), SECTION_LIMIT)}],
        }
    )
    fallback = f"{title}: {summary}" + (f" {n.url}" if n.url else "")
    return {"text": fit(escape(fallback), SECTION_LIMIT), "blocks": blocks}
