"""Decide, without running it, whether the `tokenizers` NFC normalizer could change a text.

The Qwen tokenizers normalize to NFC before BPE, so the tokens of text that NFC would change do
not spell its bytes, and such text cannot be weighed by byte position (`render.layout`): it is
encoded in pieces instead. `tokenizers` normalizes with its own tables, which are Unicode 9.0's,
while Python 3.11's `unicodedata` is Unicode 14.0. The two agree on every character both know
(Unicode keeps combining classes and decompositions stable), so they differ only on the 101 code points in `TABLES_DIFFER`: 98 combining marks added in
Unicode 10-14 (Python gives them a combining class, `tokenizers` treats them as base
characters) and DIVES AKURU VOWEL SIGN O with the two signs it is composed of. Because
`tokenizers`' tables are the older ones, it leaves alone every text Python calls normalized;
the differing code points only make Python report text as unnormalized that `tokenizers` would
not change. Text holding one of them still takes the pieces path, so that neither a newer
Python nor those marks can let a text pass that `tokenizers` would change.
`tests/test_nfc.py` recomputes the set over every code point and checks the claim.
"""

from __future__ import annotations

import re
import unicodedata

TABLES_DIFFER = re.compile(
    "[\u07fd\u0898-\u089f\u08ca-\u08d3\u09fe\u0c3c\u0d3b-\u0d3c\u0eba\u1715\u1abf-\u1ace\u1df6-\u1dfa"
    "\ua82c\U00010d24-\U00010d27\U00010eab-\U00010eac\U00010f46-\U00010f50\U00010f82-\U00010f85"
    "\U00011070\U0001133b\U0001145e\U00011839-\U0001183a\U00011930\U00011935\U00011938"
    "\U0001193d-\U0001193e\U00011943\U000119e0\U00011a34\U00011a47\U00011a99\U00011d42"
    "\U00011d44-\U00011d45\U00011d97\U00016ff0-\U00016ff1\U0001e130-\U0001e136\U0001e2ae"
    "\U0001e2ec-\U0001e2ef]"
)




def _members(char_class: str) -> frozenset[str]:
    """The characters of a `[...]` class of single characters and `a-b` ranges."""
    body, members, i = char_class[1:-1], set(), 0
    while i < len(body):
        if i + 2 < len(body) and body[i + 1] == "-":
            members.update(map(chr, range(ord(body[i]), ord(body[i + 2]) + 1)))
            i += 3
        else:
            members.add(body[i])
            i += 1
    return frozenset(members)


_TABLES_DIFFER_SET = _members(TABLES_DIFFER.pattern)
# The first UTF-8 byte of each of them (five bytes). Text whose UTF-8 holds none of these holds
# none of them: encoding and finding five bytes is ten times faster than testing each character,
# and the common non-ASCII text (CJK, accented Latin, Cyrillic) has none.
_LEAD_BYTES = tuple(sorted({char.encode()[:1] for char in _TABLES_DIFFER_SET}))


def nfc_could_change(text: str) -> bool:
    """False only when `tokenizers`' NFC normalizer leaves `text` as it is."""
    if text.isascii():
        return False
    if not unicodedata.is_normalized("NFC", text):
        return True
    encoded = text.encode("utf-8", "surrogatepass")
    # The set test is the regex's, four times faster.
    return any(lead in encoded for lead in _LEAD_BYTES) and not _TABLES_DIFFER_SET.isdisjoint(text)
