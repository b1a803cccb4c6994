"""What a caption says besides its text: #hashtags and @mentions (pure functions)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from fowergram.domain.errors import BadUserInput

CAPTION_MAX = 2200  # Instagram's limit
MAX_HASHTAGS = 30  # Instagram's limit per post
MAX_MENTIONS = 20

# A hashtag is letters, marks, digits and '_' of any script; a mention a username.
_HASHTAG = re.compile(r"(?<![\w#])#([^\W]{1,100})", re.UNICODE)
_MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9._]{1,30})(?![A-Za-z0-9_])")
_FORBIDDEN = {"Cc", "Cf", "Cs", "Co", "Cn"}
_ALLOWED_CONTROLS = {"\n", "\t"}
# Zero-width joiners keep emoji sequences whole; bidi overrides are refused.
_ALLOWED_FORMAT = {"\u200d", "\ufe0f"}


@dataclass(frozen=True, slots=True)
class CaptionFacts:
    text: str
    hashtags: tuple[str, ...]  # display form, first spelling wins, deduplicated
    mentions: tuple[str, ...]  # lower-cased usernames, deduplicated


def clean_caption(raw: str) -> str:
    text = unicodedata.normalize("NFC", raw).strip()
    if len(text) > CAPTION_MAX:
        raise BadUserInput(f"captions have at most {CAPTION_MAX} characters", field="caption")
    for ch in text:
        category = unicodedata.category(ch)
        if category in _FORBIDDEN and ch not in _ALLOWED_CONTROLS and ch not in _ALLOWED_FORMAT:
            raise BadUserInput(
                f"the caption contains a control character (U+{ord(ch):04X})", field="caption"
            )
    return text


def parse_caption(raw: str) -> CaptionFacts:
    text = clean_caption(raw)
    hashtags: dict[str, str] = {}
    for tag in _HASHTAG.findall(text):
        hashtags.setdefault(tag.lower(), tag)
    if len(hashtags) > MAX_HASHTAGS:
        raise BadUserInput(f"at most {MAX_HASHTAGS} hashtags per post", field="caption")
    mentions = list(dict.fromkeys(m.lower().rstrip(".") for m in _MENTION.findall(text)))
    return CaptionFacts(text, tuple(hashtags.values()), tuple(mentions[:MAX_MENTIONS]))
