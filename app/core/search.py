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

_LATIN = r"[0-9A-Za-z\u00C0-\u024F]+(?:[._-][0-9A-Za-z\u00C0-\u024F]+)*"
_CJK_CLASS = r"[\u3400-\u4DBF\u4E00-\u9FFF\uF900-\uFAFF\u3040-\u30FF\uAC00-\uD7AF]"
# A Latin/digit word or a CJK run, as (word, run) pairs from findall: one pass in C,
# no match objects (a creation tokenises its subject and description).
_TOKEN = re.compile(f"({_LATIN})|({_CJK_CLASS}+)")
_CJK = re.compile(_CJK_CLASS)
MAX_DOC_TOKENS = 4000


def tokens(text: str, for_document: bool = False) -> list[str]:
    out: list[str] = []
    for word, run in _TOKEN.findall(text or ""):
        if word:
            out.append(word.lower())
        elif len(run) == 1:
            out.append(run)
        else:
            out.extend([run[i : i + 2] for i in range(len(run) - 1)])
            if for_document:
                out.append(run[-1])
    return out


def document(*parts: str | None) -> str:
    """Space-joined tokens for `to_tsvector('simple', :doc)`, each once, in order of
    appearance; a part stops adding tokens once MAX_DOC_TOKENS distinct ones are in."""
    found = [tokens(part or "", for_document=True) for part in parts]
    if sum(map(len, found)) < MAX_DOC_TOKENS:
        # Fewer tokens than the cap in all: it cannot bite, so no count per token.
        return " ".join(dict.fromkeys(tok for toks in found for tok in toks))
    seen: dict[str, None] = {}
    for toks in found:
        for tok in toks:
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
