"""Progress a person can follow: one bar per stage on a terminal, one line per finished part in a log.

On a terminal (stderr is a TTY) a stage shows one ``tqdm`` bar with counts, rate and time left; libraries'
own bars stay off (LIME's per-image bar is never drawn: ``FastLimeImageExplainer.data_labels`` replaces the loop
that drew it). Off a terminal (CI, ``nohup``, a pipe) a bar would print nothing useful, so each finished part
(an image, a batch of probe images) prints one line instead, with its time, the count and the time left::

    attribution: 3/10 n01443537_goldfish in 12.3 s (elapsed 0:41, about 1:35 left)

The time left is the mean time per finished part times the parts still to do.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from tqdm import tqdm


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    """Progress of one stage over ``parts`` parts (images), each of ``steps`` steps (methods).

    ``step()`` advances the terminal bar; ``done(name)`` marks a part finished, which off a terminal prints
    its line. ``tty`` overrides the TTY check (tests)."""

    def __init__(self, desc: str, parts: int, steps: int = 1, stream: TextIO | None = None,
                 tty: bool | None = None) -> None:
        self.desc, self.parts = desc, parts
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.finished = 0
        self.start = self._part_start = time.perf_counter()
        self.bar = tqdm(total=parts * steps, desc=desc, unit="step", file=self.stream, disable=not self.tty)

    def step(self, n: int = 1, note: str | None = None) -> None:
        """Advance the bar by ``n`` steps; ``note`` (e.g. "goldfish lime") is shown beside it."""
        if note is not None:
            self.bar.set_postfix_str(note, refresh=False)
        self.bar.update(n)

    def done(self, name: str) -> None:
        """Part ``name`` finished: off a terminal, print its line."""
        now = time.perf_counter()
        self.finished += 1
        if not self.tty:
            elapsed = now - self.start
            left = elapsed / self.finished * (self.parts - self.finished)
            print(f"{self.desc}: {self.finished}/{self.parts} {name} in {now - self._part_start:.1f} s "
                  f"(elapsed {_clock(elapsed)}, about {_clock(left)} left)", file=self.stream, flush=True)
        self._part_start = now

    def close(self) -> None:
        self.bar.close()
