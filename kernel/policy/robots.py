"""Robots and crawlers, by COUNTER's list (`counter_robots.txt` beside this module, with its
source and licence): their views and downloads are not usage (Code of Practice 5.1, 7.8).

The list is read and compiled once, into one alternation, when this module is imported.
"""

from __future__ import annotations

import re
from pathlib import Path

from kernel.policy.text import user_pattern

LIST = Path(__file__).with_name("counter_robots.txt")
# a User-Agent is looked at this far: the list's patterns name short tokens, and the
# alternation of some 300 of them costs about 2 ms a kilobyte
AGENT_CHARS = 1024


def _compiled(path: Path) -> re.Pattern[str]:
    patterns = [
        line
        for line in path.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    return user_pattern(
        "|".join(f"(?:{pattern})" for pattern in patterns), re.IGNORECASE, max_length=AGENT_CHARS
    )


ROBOTS = _compiled(LIST)


def is_robot(user_agent: str | None) -> bool:
    """Whether a request with this User-Agent is a robot's; none (or an empty one) is."""
    return ROBOTS.search((user_agent or "")[:AGENT_CHARS]) is not None
