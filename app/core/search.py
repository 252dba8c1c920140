"""Text search that works for Chinese as well as English, on PostgreSQL's own full-text
machinery (GIN over a tsvector), with no extension to install.

Why not pg_trgm alone: a two-character Chinese word ("故障", "宕机") yields no trigram, so
ILIKE falls back to a sequential scan. We index Latin/digit words whole (and their
prefixes via `:*` at query time) and CJK runs as overlapping character bigrams, the
standard approach of CJK search engines; a query is tokenised the same way and all its
tokens must match.

A single CJK character is a word of its own in Chinese (机, 网, 卡), so a one-character
query searches too: it matches as a prefix (`'机':*`) of the document's bigrams, and a
document also holds the last character of each CJK run alone (the one character that
starts no bigram), so every character of the text can be found.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(
    r"[0-9A-Za-z\u00C0-\u024F]+(?:[._-][0-9A-Za-z\u00C0-\u024F]+)*"
    r"|[\u3400-\u4DBF\u4E00-\u9FFF\uF900-\uFAFF\u3040-\u30FF\uAC00-\uD7AF]+"
)
_CJK = re.compile(r"[\u3400-\u4DBF\u4E00-\u9FFF\uF900-\uFAFF\u3040-\u30FF\uAC00-\uD7AF]")
MAX_DOC_TOKENS = 4000


def tokens(text: str, for_document: bool = False) -> list[str]:
    out: list[str] = []
    for match in _TOKEN.finditer(text or ""):
        run = match.group(0)
        if _CJK.match(run):
            if len(run) == 1:
                out.append(run)
            else:
                out.extend(run[i : i + 2] for i in range(len(run) - 1))
                if for_document:
                    out.append(run[-1])
        else:
            out.append(run.lower())
    return out


def document(*parts: str | None) -> str:
    """Space-joined tokens for `to_tsvector('simple', :doc)`."""
    seen: dict[str, None] = {}
    for part in parts:
        for tok in tokens(part or "", for_document=True):
            seen.setdefault(tok, None)
            if len(seen) >= MAX_DOC_TOKENS:
                break
    return " ".join(seen)


def query(text: str) -> str | None:
    """A `to_tsquery('simple', ...)` string, or None when the text has no searchable token.
    Latin words match as prefixes (`swit` finds `switch`); CJK bigrams match exactly, a
    lone CJK character as a prefix (of a bigram, or the character itself)."""
    terms: list[str] = []
    for tok in dict.fromkeys(tokens(text)):
        safe = tok.replace("'", "").replace("\\", "")
        if not safe:
            continue
        exact = _CJK.match(safe) is not None and len(safe) > 1
        terms.append(f"'{safe}'" if exact else f"'{safe}':*")
    return " & ".join(terms) if terms else None
