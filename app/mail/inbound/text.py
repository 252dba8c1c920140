"""The text of a message as a ticket keeps it: decoded from any charset Chinese clients
use, HTML sanitised (nh3) and turned into plain text, the quoted history cut, and every
character PostgreSQL or the ticket's text rules refuse taken out.

Comments and descriptions are plain text in the ticket API (`Text` fields), so an HTML
message is not stored as HTML: nh3 parses and sanitises it (scripts, styles and their
content gone, only structural tags kept, links only http/https/mailto), and the clean
result is read into lines. No frontend can then be handed a customer's markup."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import nh3
from mailparser_reply import EmailReplyParser

# Chinese mail tools label GBK text as gb2312 (a subset): decode the superset instead.
_CHARSET_ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "euc-cn": "gb18030",
    "gb_2312-80": "gb18030",
    "ks_c_5601-1987": "cp949",
    "unicode-1-1-utf-7": "utf-7",
}
# C0 and C1 controls but tab and line feed (CR is folded into LF first), and lone
# surrogates (headers with raw 8-bit bytes come through the parser as surrogate escapes).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_LINE_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_BLANK_RUNS = re.compile(r"\n{3,}")
_SPACES = re.compile(r"\s+")


def decode_bytes(data: bytes, charset: str | None) -> str:
    """`data` as text: its declared charset (aliases widened), else UTF-8, else GB18030;
    undecodable bytes replaced rather than failing the message."""
    declared = (charset or "").strip().strip('"').lower()
    tried: list[str] = []
    for name in (_CHARSET_ALIASES.get(declared, declared), "utf-8", "gb18030"):
        if not name or name in tried:
            continue
        tried.append(name)
        try:
            return data.decode(name)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("utf-8", errors="replace")


def unescape_surrogates(value: str) -> str:
    """A header that carried raw 8-bit bytes (UTF-8 or GBK, not RFC 2047) back as text."""
    if not any("\udc80" <= ch <= "\udcff" for ch in value):
        return value
    return decode_bytes(value.encode("utf-8", errors="surrogateescape"), None)


def clean_text(value: str) -> str:
    """Multi-line text the ticket rules accept: LF line ends, no controls but tab, no
    trailing spaces, at most one blank line in a row."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = _CONTROL.sub("", value)
    value = "\n".join(line.rstrip() for line in value.split("\n"))
    return _BLANK_RUNS.sub("\n\n", value).strip("\n")


def clean_line(value: str, limit: int) -> str:
    """One line (a subject, a name): whitespace runs folded, controls out, cut to `limit`."""
    value = _LINE_CONTROL.sub(" ", unescape_surrogates(value))
    return _SPACES.sub(" ", value).strip()[:limit].strip()


def truncate(value: str, limit: int, note: str) -> tuple[str, bool]:
    """`value` cut to `limit` characters (the note included) at a line end if one is
    near, and whether it was cut."""
    if len(value) <= limit:
        return value, False
    room = limit - len(note) - 2
    cut = value.rfind("\n", max(room - 2000, 0), room)
    return value[: cut if cut > 0 else room].rstrip() + "\n\n" + note, True


# --- HTML -----------------------------------------------------------------------------

_BLOCK_TAGS = {"p", "div", "li", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6",
               "pre", "ul", "ol", "dl", "dt", "dd", "hr", "center"}  # fmt: skip
_KEPT_TAGS = _BLOCK_TAGS | {"br", "blockquote", "a", "td", "th", "tbody", "thead"}
_DROPPED_WITH_CONTENT = {"script", "style", "head", "title", "noscript", "template"}


# A quote's depth as the text shows it, and the text an HTML part may become. Each line
# carries its depth's `> ` prefix, so without a cap n nested blockquotes (a few bytes
# each) made n lines of up to 2n characters: 240 KB of HTML became gigabytes of text.
QUOTE_DEPTH_MAX = 10
HTML_TEXT_MAX = 5_000_000  # characters of text; beyond, the rest of the part is dropped


class _TextReader(HTMLParser):
    """Lines out of nh3's output (well-formed, only `_KEPT_TAGS`): blocks end lines,
    a blockquote quotes its lines with `> ` (so the cut below sees quoted history), a
    link keeps its address after its text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.depth = 0
        self.cells = 0
        self.links: list[str | None] = []
        self.size = 0  # characters in `lines`

    def _end_line(self) -> None:
        text = "".join(self.current).replace("\xa0", " ").strip()
        self.current = []
        self.cells = 0
        if self.size > HTML_TEXT_MAX:
            return
        prefix = "> " * min(self.depth, QUOTE_DEPTH_MAX)
        if text or (self.lines and self.lines[-1] != prefix.rstrip()):
            line = (prefix + text).rstrip()
            self.lines.append(line)
            self.size += len(line) + 1

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self._end_line()
        elif tag == "blockquote":
            self._end_line()
            self.depth += 1
        elif tag in ("td", "th"):
            if self.cells:
                self.current.append("\t")
            self.cells += 1
        elif tag == "a":
            self.links.append(dict(attrs).get("href"))
        elif tag in _BLOCK_TAGS:
            self._end_line()

    def handle_endtag(self, tag: str) -> None:
        if tag == "blockquote":
            self._end_line()
            self.depth = max(self.depth - 1, 0)
        elif tag == "a" and self.links:
            href = self.links.pop()
            shown = "".join(self.current)
            if href and href.removeprefix("mailto:") not in shown:
                self.current.append(f" <{href}>")
        elif tag in _BLOCK_TAGS:
            self._end_line()

    def handle_data(self, data: str) -> None:
        if self.size <= HTML_TEXT_MAX:
            self.current.append(_SPACES.sub(" ", data))

    def text(self) -> str:
        self._end_line()
        return "\n".join(self.lines)


# What an HTML part costs is bounded: reading it into lines costs about 6 us a tag, so
# only its first HTML_INPUT_MAX characters are read (after long `data:` URIs, pasted
# images, are cut to nothing: they hold no text); and nh3's parser (html5ever) checks
# the open elements' scope at every block element, so its time grows with the square of
# their nesting (40,000 nested <div>, 200 KB, cost 6 s with the event loop blocked):
# nested deeper than BLOCK_DEPTH_MAX, which no mail client's HTML comes near, the part
# is read without nh3.
HTML_INPUT_MAX = 1_000_000  # characters
BLOCK_DEPTH_MAX = 200
_DATA_URI = re.compile(r"""data:[^\s"'<>]{200,}""")
_DEEP_TAGS = frozenset(
    {"address", "article", "aside", "blockquote", "center", "details", "dialog", "dir",
     "div", "dl", "fieldset", "figcaption", "figure", "footer", "form", "header", "hgroup",
     "listing", "main", "menu", "nav", "ol", "pre", "search", "section", "summary", "ul"}
)  # fmt: skip
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)")
_SCHEME = re.compile(r"\s*(?:https?|mailto):", re.IGNORECASE)


def _too_deep(html: str) -> bool:
    """Whether block elements nest deeper than BLOCK_DEPTH_MAX (one linear scan)."""
    depth = 0
    for match in _TAG.finditer(html):
        if match.group(2).lower() not in _DEEP_TAGS:
            continue
        if match.group(1):
            depth = max(depth - 1, 0)
        else:
            depth += 1
            if depth > BLOCK_DEPTH_MAX:
                return True
    return False


class _RawTextReader(_TextReader):
    """The same lines from HTML as it came (no nh3): the content of scripts, styles and
    the like is dropped here. Only text comes out, so nothing needs sanitising."""

    def __init__(self) -> None:
        super().__init__()
        self.dropping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROPPED_WITH_CONTENT:
            self.dropping += 1
        elif tag in _KEPT_TAGS:
            # As nh3 would: a link's address only when it is one of the kept schemes.
            href = dict(attrs).get("href") if tag == "a" else None
            kept = href if href and _SCHEME.match(href) else None
            super().handle_starttag(tag, [("href", kept)] if kept else [])

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROPPED_WITH_CONTENT:
            self.dropping = max(self.dropping - 1, 0)
        elif tag in _KEPT_TAGS:
            super().handle_endtag(tag)

    def handle_data(self, data: str) -> None:
        if not self.dropping:
            super().handle_data(data)


def html_to_text(html: str) -> str:
    """Sanitised by nh3, then read into plain lines; scripts and styles leave nothing."""
    html = _DATA_URI.sub("data:", html)
    if len(html) > HTML_INPUT_MAX:
        html = html[:HTML_INPUT_MAX]
        html = html[: html.rfind("<")] if html.rfind("<") > html.rfind(">") else html
    if _too_deep(html):
        reader: _TextReader = _RawTextReader()
        reader.feed(html)
    else:
        safe = nh3.clean(
            html,
            tags=_KEPT_TAGS,
            clean_content_tags=_DROPPED_WITH_CONTENT,
            attributes={"a": {"href"}},
            url_schemes={"http", "https", "mailto"},
            link_rel=None,
        )
        reader = _TextReader()
        reader.feed(safe)
    reader.close()
    return reader.text()


# --- Quoted history -------------------------------------------------------------------

_QUOTE_PREFIX = re.compile(r"^(?:>\s?)+")
# Where Chinese clients start the history. mail-parser-reply knows English, German,
# Japanese... and has `zh` patterns that miss the common forms (its "写道" header must
# start with the date and, through a lookahead, can never match; it wants ASCII colons
# where Chinese Outlook writes full-width ones), so these come first.
_CN_MARKERS = [
    # QQ Mail, Foxmail, NetEase, Apple Mail: "在 2026年12月1日 10:20，张三 <a@b> 写道："
    re.compile(r"^在.{0,200}写道\s*[：:]\s*$"),
    # Gmail in Chinese: "张三 <a@b> 于2026年12月1日周二 10:20写道：", NetEase "于2026-12-01"
    re.compile(r"^.{0,200}于\s*\d{4}\s*[年/-].{0,80}写道\s*[：:]\s*$"),
    re.compile(r"^.{0,200}\d{4}年\d{1,2}月\d{1,2}日.{0,100}写道\s*[：:]\s*$"),
    # Outlook, Foxmail, QQ Mail separators: "-----原始邮件-----", "------ Original ------"
    re.compile(r"^-{2,}\s*(?:原始邮件|原邮件|回复的原邮件|Original)\s*-{2,}\s*$", re.IGNORECASE),
]
# Chinese Outlook's header block: 发件人 then, within three lines, 发送时间/收件人/主题.
_CN_FROM = re.compile(r"^\*?发件人\*?\s*[：:]")
_CN_HEADER = re.compile(r"^\*?(?:发送时间|时间|日期|收件人|主题|抄送)\*?\s*[：:]")
_REPLY_PARSER = EmailReplyParser(languages=["zh", "en", "de", "fr", "ja"])


def _chinese_cut(lines: list[str]) -> int | None:
    """The index of the first line of quoted history by a Chinese client's marker."""
    bare = [_QUOTE_PREFIX.sub("", line).strip() for line in lines]
    for i, line in enumerate(bare):
        joined = f"{line}{bare[i + 1]}" if i + 1 < len(bare) else line
        if any(m.match(line) for m in _CN_MARKERS):
            return i
        # A "在 ... 写道：" header wrapped onto two lines.
        if line.startswith("在") and not line.endswith("：") and _CN_MARKERS[0].match(joined):
            return i
        if _CN_FROM.match(line) and any(_CN_HEADER.match(x) for x in bare[i + 1 : i + 4]):
            return i
    return None


def _library_cut(lines: list[str]) -> int | None:
    """Where mail-parser-reply ends the latest reply, as a line index of `lines`. The
    library strips every line, so its reply is matched back to the original lines to
    keep indentation (logs, configurations)."""
    text = "\n".join(lines)
    latest = _REPLY_PARSER.parse_reply(text)
    if latest is None:
        return None
    reply = [x.strip() for x in latest.split("\n")]
    start = next((i for i, x in enumerate(lines) if x.strip()), 0)
    end = start + len(reply)
    if end >= len(lines) or [x.strip() for x in lines[start:end]] != reply:
        return None
    return end


def _drop_trailing_quote(lines: list[str]) -> list[str]:
    """A run of quoted lines (and blank ones) that ends the message is history too."""
    end = len(lines)
    while end and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith(">")):
        end -= 1
    return lines[:end]


def latest_reply(text: str) -> str:
    """The new part of a reply: the history cut at the first marker found (Chinese
    clients' first, then mail-parser-reply's), and a trailing quote dropped. When
    nothing is left (a reply written under the quote) the whole text is kept: better
    too much than losing what the customer wrote."""
    lines = text.split("\n")
    for cut in (_chinese_cut, _library_cut):
        at = cut(lines)
        if at is not None:
            lines = lines[:at]
    kept = "\n".join(_drop_trailing_quote(lines)).strip("\n")
    return kept if kept.strip() else text
