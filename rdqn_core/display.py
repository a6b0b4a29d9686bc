"""Browser-only playback of figures the page computed: matplotlib's JavaScript player, offline.

A slider widget in the static book is a picture of its state at build time; it cannot re-run
Python. Where a reader should be able to scrub through something the page computed (an
episode, a parameter sweep), the chapters (first in chapter 4) render every frame at build
time into matplotlib's ``to_jshtml()`` player, which steps through them in the browser.

Matplotlib's player loads its button icons (Font Awesome) from a CDN; the book must render
without network access, so :func:`offline_jshtml` drops that stylesheet and gives the
buttons plain Unicode symbols instead.

This module needs matplotlib (the ``book`` extra). ``import rdqn_core`` does not import it;
chapters use ``from rdqn_core.display import offline_player``. It never imports training
code.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import animation
from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = ["CartPoleDrawing", "OfflinePlayer", "offline_jshtml", "offline_player"]

# matplotlib's player markup: <i class="fa fa-..."></i> per button (matplotlib 3.x, _html_template)
# Built from the two triangles and a bar, which every common font has; single-glyph media
# symbols such as U+23EE (first) or U+23F8 (pause) show as empty boxes where no font has them.
_BUTTON_SYMBOLS = {
    "fa-minus": "&minus;",                          # slower
    "fa-fast-backward": "|&#x25C0;&#x25C0;",        # first frame
    "fa-step-backward": "|&#x25C0;",                # previous frame
    "fa-play fa-flip-horizontal": "&#x25C0;",       # play backwards
    "fa-pause": "||",                               # pause
    "fa-play": "&#x25B6;",                          # play
    "fa-step-forward": "&#x25B6;|",                 # next frame
    "fa-fast-forward": "&#x25B6;&#x25B6;|",         # last frame
    "fa-plus": "+",                                 # faster
}
_CDN_STYLESHEET = re.compile(r'<link\s+rel="stylesheet"\s+href="https?://[^"]*"\s*/?>')
_REMOTE_REFERENCE = re.compile(r'\b(?:src|href)\s*=\s*"(?:https?:)?//', re.I)


def offline_jshtml(html: str) -> str:
    """Make the HTML of ``Animation.to_jshtml()`` render without network access.

    Removes remote stylesheets (the Font Awesome CDN link) and replaces the icon elements of
    the player's buttons by Unicode symbols.

    Raises:
        ValueError: if ``html`` does not look like a matplotlib player, or if a remote
            ``src``/``href`` or an icon this function does not know remains afterwards (a newer
            matplotlib may have changed its template; the message names what is left).
    """
    if "class=\"animation\"" not in html or "<img" not in html:
        raise ValueError("expected the HTML of matplotlib's Animation.to_jshtml() "
                         "(a <div class=\"animation\"> with an <img>); got something else")
    html = _CDN_STYLESHEET.sub("", html)
    for icon, symbol in _BUTTON_SYMBOLS.items():
        html = html.replace(f'<i class="fa {icon}"></i>', symbol)
    leftover_icons = sorted(set(re.findall(r'<i class="fa [^"]*"', html)))
    remote = _REMOTE_REFERENCE.findall(html)
    if leftover_icons or remote:
        raise ValueError(f"player HTML still needs the network: icons {leftover_icons}, "
                         f"remote references {remote}; update rdqn_core.display for this matplotlib")
    return html


@dataclass(frozen=True)
class OfflinePlayer:
    """A rendered player: displays itself in Jupyter and in the built book (``_repr_html_``).

    Attributes:
        html: self-contained HTML (frames embedded as base64 PNG, JavaScript inline).
        n_frames: number of frames the player steps through.
    """

    html: str
    n_frames: int

    def _repr_html_(self) -> str:
        return self.html


def offline_player(fig: Figure, update: Callable[[object], object], frames: Sequence, *,
                   interval_ms: int = 200, loop: str = "once", close: bool = True) -> OfflinePlayer:
    """Render ``update(frame)`` for every frame into a JavaScript player that needs no kernel.

    Args:
        fig: the figure to animate; ``update`` changes its artists in place.
        update: called once per element of ``frames`` (its return value is ignored).
        frames: the values to step through, e.g. time steps of an episode or the values of a
            swept parameter; at least one.
        interval_ms: delay between frames when playing.
        loop: what the player does at the end: ``"once"``, ``"loop"`` or ``"reflect"``.
        close: close ``fig`` afterwards, so the notebook does not also show it as a still image.

    Every frame is embedded as a PNG: keep the figure small (a low ``dpi``) and the frames
    few (tens), or the page grows by megabytes.
    """
    frames = list(frames)
    if not frames:
        raise ValueError("offline_player needs at least one frame; got an empty sequence")
    if loop not in ("once", "loop", "reflect"):
        raise ValueError(f"loop must be 'once', 'loop' or 'reflect'; got {loop!r}")
    if interval_ms <= 0:
        raise ValueError(f"interval_ms must be positive; got {interval_ms}")
    anim = animation.FuncAnimation(fig, update, frames=frames, interval=interval_ms, blit=False, repeat=False)
    try:
        html = anim.to_jshtml(default_mode=loop)
    finally:
        if close:
            plt.close(fig)
    return OfflinePlayer(offline_jshtml(html), len(frames))


class CartPoleDrawing:
    """A cart and its pole on an existing axes, redrawn in place from ``(x, theta)``.

    Used by the episode players of chapters 1 and 4. The artists are created once and only
    moved by :meth:`show`, so a player of hundreds of frames stays cheap.

    Args:
        ax: the axes to draw on (its limits, aspect and ticks are set here).
        x_limit: half-width of the track; CartPole ends an episode at ``|x| > 2.4``.
        pole_length: drawn length of the pole (CartPole's full pole is 1.0 in its units).
        color: colour of the pole.
    """

    def __init__(self, ax: Axes, *, x_limit: float = 2.4, pole_length: float = 1.0, color: str = "C1"):
        if x_limit <= 0 or pole_length <= 0:
            raise ValueError(f"x_limit and pole_length must be positive; got {x_limit}, {pole_length}")
        self.ax, self.pole_length = ax, pole_length
        ax.plot([-x_limit, x_limit], [0, 0], color="0.6", lw=1)
        for edge in (-x_limit, x_limit):  # the episode ends when the cart passes these
            ax.axvline(edge, color="0.8", lw=1, ls=":")
        self.cart = ax.add_patch(plt.Rectangle((-0.25, -0.1), 0.5, 0.2, color="0.3"))
        (self.pole,) = ax.plot([], [], color=color, lw=4, solid_capstyle="round")
        ax.set(xlim=(-x_limit - 0.1, x_limit + 0.1), ylim=(-0.3, 1.25 * pole_length), aspect="equal", yticks=[])

    def show(self, x: float, theta: float, title: str | None = None) -> None:
        """Move the cart to ``x`` and tilt the pole by ``theta`` radians (0 = upright, + = right)."""
        self.cart.set_x(x - 0.25)
        self.pole.set_data([x, x + self.pole_length * np.sin(theta)], [0.0, self.pole_length * np.cos(theta)])
        if title is not None:
            self.ax.set_title(title, fontsize=9)
