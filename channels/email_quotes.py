"""Stripping quoted history from a reply, so agents read what is new.

Mail clients append the earlier thread in a few recognisable ways: an
attribution line ("On <date>, <name> wrote:", and its translations), an
Outlook header block ("-----Original Message-----", or a rule of
underscores followed by "From:"), and ``>``-prefixed lines. We cut at the
first attribution or header block and drop ``>`` lines elsewhere. The full
text is always kept as ``original``; when stripping would leave nothing, the
full text is shown instead.
"""

from __future__ import annotations

import re

_ATTRIBUTION = re.compile(
    r"^\s*("
    r"On\b.{0,300}\bwrote:"  # Gmail, Apple Mail, Thunderbird
    r"|Le\b.{0,300}\ba écrit\s?:"  # French
    r"|Am\b.{0,300}\bschrieb.{0,100}:"  # German
    r"|El\b.{0,300}\bescribió:"  # Spanish
    r"|Op\b.{0,300}\bschreef.{0,100}:"  # Dutch
    r")\s*$",
    re.IGNORECASE,
)
_ORIGINAL_MESSAGE = re.compile(
    r"^\s*-{2,}\s*(Original Message|Forwarded message)\s*-{2,}\s*$", re.I
)
_UNDERSCORE_RULE = re.compile(r"^\s*_{20,}\s*$")
_HEADER_LINE = re.compile(r"^\s*\*?(From|Sent|Date|To|Subject|Cc)\*?\s*:", re.IGNORECASE)


def _outlook_header_block(lines: list[str], i: int) -> bool:
    """``From:`` followed within three lines by ``Sent:``/``Date:``: Outlook's reply header."""
    if not re.match(r"^\s*\*?From\*?\s*:", lines[i], re.IGNORECASE):
        return False
    following = lines[i + 1 : i + 4]
    return any(re.match(r"^\s*\*?(Sent|Date)\*?\s*:", line, re.I) for line in following)


def strip_quoted_history(text: str) -> str:
    """The new part of a reply; see the module docstring for what counts as history."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    for i, line in enumerate(lines):
        # Attribution lines are often wrapped onto two lines by the client.
        joined = line + " " + lines[i + 1] if i + 1 < len(lines) else line
        if (
            _ATTRIBUTION.match(line)
            or (
                line.lstrip().startswith(("On ", "Le ", "Am ", "El ", "Op "))
                and _ATTRIBUTION.match(joined)
            )
            or _ORIGINAL_MESSAGE.match(line)
            or (
                _UNDERSCORE_RULE.match(line)
                and i + 1 < len(lines)
                and _HEADER_LINE.match(lines[i + 1])
            )
            or _outlook_header_block(lines, i)
        ):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line)
    stripped = "\n".join(kept).strip()
    return stripped or text.strip()
