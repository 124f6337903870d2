"""Small pieces of English the generators share."""

import re


def with_article(phrase: str) -> str:
    """`phrase` after "A" or "An", as it is said: "An 8-year-old", "An 11-day-old", "A 7-year-old".

    >>> [with_article(p) for p in ("8-year-old", "11-day-old", "18-year-old", "83-year-old", "7-year-old")]
    ['An 8-year-old', 'An 11-day-old', 'An 18-year-old', 'An 83-year-old', 'A 7-year-old']
    """
    spoken_with_vowel = re.match(r"(8|11|18|8\d)(?!\d)", phrase) or phrase[:1].lower() in "aeiou"
    return ("An " if spoken_with_vowel else "A ") + phrase
