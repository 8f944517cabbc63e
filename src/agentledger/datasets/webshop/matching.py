"""Text matching used by the WebShop reward: fuzzy token-set similarity, colour normalisation, title nouns.

``token_set_ratio`` gives the same scores as ``thefuzz.fuzz.token_set_ratio`` (which WebShop's
``goal.py`` calls) with its default processing: non-ASCII characters dropped, everything that is
not a letter or digit turned into a space, lower-cased, stripped; the token-set comparison of
``rapidfuzz``; the result rounded to an int. ``thefuzz``/``rapidfuzz`` are not dependencies here,
so the Indel similarity underneath is computed from the longest common subsequence.

``title_nouns`` stands in for the spaCy part-of-speech filter of WebShop's ``get_type_reward``
(which keeps NOUN/PROPN tokens of a product name): spaCy and its model are not dependencies, so
the content words of the name are kept (alphabetic tokens of two or more letters that are not
function words or common descriptive adjectives).
"""

from __future__ import annotations

import re

__all__ = ["COLOR_SET", "normalize_color", "process", "indel_ratio", "token_set_ratio", "title_nouns"]

# web_agent_site/engine/normalize.py
COLOR_SET = (
    "alabaster", "apricot", "aqua", "ash", "asphalt", "azure", "banana", "beige", "black", "blue",
    "blush", "bordeaux", "bronze", "brown", "burgundy", "camel", "camo", "caramel", "champagne",
    "charcoal", "cheetah", "chestnut", "chocolate", "christmas", "coffee", "cognac", "copper", "coral",
    "cranberry", "cream", "crystal", "dark", "denim", "eggplant", "elephant", "espresso", "fuchsia",
    "gold", "granite", "grape", "graphite", "grass", "gray", "green", "grey", "heather", "indigo",
    "ivory", "ivy", "khaki", "lavender", "lemon", "leopard", "light", "lilac", "lime", "magenta",
    "maroon", "mauve", "merlot", "midnight", "mint", "mocha", "multicolor", "mushroom", "mustard",
    "natural", "navy", "nude", "olive", "orange", "peach", "pewter", "pink", "plum", "purple",
    "rainbow", "red", "rose", "royal", "rust", "sand", "sapphire", "seashell", "silver", "skull",
    "slate", "steel", "stone", "stonewash", "sunflower", "tan", "taupe", "teal", "tiger", "turquoise",
    "violet", "walnut", "wheat", "white", "wine", "yellow",
)

_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_WORD = re.compile(r"[a-z]+")
_NOT_NOUNS = frozenset("""
a an and are as at be by for from in into is it its of on or the to with without your you our this
that these those all any each per plus via up out off over under new best great good high low
premium quality natural organic large small big mini long short extra super ultra soft hard light
heavy easy free fresh pure real perfect professional portable durable comfortable cute classic
modern vintage waterproof adjustable compatible multi double single non anti
""".split())


def normalize_color(text: str) -> str:
    """The first colour of ``COLOR_SET`` found inside ``text`` (substring match), else ``text``."""
    for color in COLOR_SET:
        if color in text:
            return color
    return text


def process(text: str) -> str:
    """thefuzz's ``full_process(text, force_ascii=True)``."""
    ascii_only = "".join(ch for ch in text if ord(ch) < 128)
    return _NON_ALNUM.sub(" ", ascii_only.lower()).strip()


def _lcs_length(a: str, b: str) -> int:
    if len(a) < len(b):
        a, b = b, a
    row = [0] * (len(b) + 1)
    for ch in a:
        diag = 0
        for j, other in enumerate(b, 1):
            above = row[j]
            row[j] = diag + 1 if ch == other else max(row[j], row[j - 1])
            diag = above
    return row[-1]


def indel_ratio(a: str, b: str) -> float:
    """Normalised Indel similarity in [0, 100]: ``200 * LCS(a, b) / (len(a) + len(b))``."""
    total = len(a) + len(b)
    return 100.0 if total == 0 else 200.0 * _lcs_length(a, b) / total


def token_set_ratio(s1: str, s2: str) -> int:
    """``thefuzz.fuzz.token_set_ratio(s1, s2)``: 100 when one token set contains the other."""
    tokens_a, tokens_b = set(process(s1).split()), set(process(s2).split())
    if not tokens_a or not tokens_b:
        return 0
    common = tokens_a & tokens_b
    only_a, only_b = tokens_a - tokens_b, tokens_b - tokens_a
    if common and (not only_a or not only_b):
        return 100
    diff_a, diff_b = " ".join(sorted(only_a)), " ".join(sorted(only_b))
    sect_len = len(" ".join(common))
    sep = 1 if sect_len else 0
    sect_a_len, sect_b_len = sect_len + sep + len(diff_a), sect_len + sep + len(diff_b)
    # ratio(sect + diff_a, sect + diff_b): the shared prefix adds the same to both lengths and the LCS
    lcs = _lcs_length(diff_a, diff_b) + sect_len + sep
    best = 200.0 * lcs / (sect_a_len + sect_b_len) if sect_len else indel_ratio(diff_a, diff_b)
    if sect_len:
        best = max(best, 100.0 - 100.0 * (sep + len(diff_a)) / (sect_len + sect_a_len),
                   100.0 - 100.0 * (sep + len(diff_b)) / (sect_len + sect_b_len))
    return int(round(best))


def title_nouns(name: str) -> list[str]:
    """The content words of a product name (see the module docstring), lower-cased, in order."""
    return [w for w in _WORD.findall(name.lower()) if len(w) > 1 and w not in _NOT_NOUNS]
