"""rdqn_core.display: the offline JavaScript player used by the chapters."""
import base64
import re

import matplotlib

matplotlib.use("Agg")  # this test file draws off-screen; the book keeps its inline backend
import matplotlib.pyplot as plt
import pytest

from rdqn_core.display import CartPoleDrawing, OfflinePlayer, offline_jshtml, offline_player


def _line_figure():
    fig, ax = plt.subplots(figsize=(2, 1.5), dpi=40)
    (line,) = ax.plot([0, 1], [0, 0])
    ax.set_ylim(-3, 3)
    return fig, line


def test_player_embeds_one_distinct_frame_per_value_and_needs_no_network():
    fig, line = _line_figure()
    seen = []

    def update(value):
        seen.append(value)
        line.set_ydata([0, value])

    player = offline_player(fig, update, frames=[-2, 0, 2], interval_ms=100)
    assert isinstance(player, OfflinePlayer) and player.n_frames == 3
    assert set(seen) == {-2, 0, 2}  # update ran for every value
    html = player._repr_html_()
    frames = re.findall(r'frames\[(\d+)\] = "data:image/png;base64,([^"]+)"', html)
    assert [int(i) for i, _ in frames] == [0, 1, 2]
    pngs = [base64.b64decode(data) for _, data in frames]
    assert all(p.startswith(b"\x89PNG") for p in pngs)
    assert len(set(pngs)) == 3  # the frames differ: the update changed the figure
    assert "font-awesome" not in html and 'class="fa ' not in html
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "&#x25B6;" in html  # the play button has a visible symbol
    assert not plt.fignum_exists(fig.number)  # closed, so Jupyter does not show it twice


def test_offline_jshtml_strips_the_cdn_link_of_real_matplotlib_output():
    from matplotlib import animation

    fig, line = _line_figure()
    anim = animation.FuncAnimation(fig, lambda v: line.set_ydata([0, v]), frames=[0, 1], repeat=False)
    raw = anim.to_jshtml()
    plt.close(fig)
    assert "font-awesome" in raw  # what this function exists to remove (fails if matplotlib changes)
    clean = offline_jshtml(raw)
    assert "font-awesome" not in clean and "<img" in clean


@pytest.mark.parametrize("html, message", [
    ("<p>not a player</p>", "to_jshtml"),
    ('<div class="animation"><img id="x"><i class="fa fa-new-icon"></i></div>', "fa fa-new-icon"),
    ('<div class="animation"><img id="x"><script src="https://cdn.example/x.js"></script></div>', "remote"),
])
def test_offline_jshtml_rejects_what_it_cannot_make_offline(html, message):
    with pytest.raises(ValueError, match=message):
        offline_jshtml(html)


def test_offline_player_rejects_bad_arguments():
    fig, line = _line_figure()
    with pytest.raises(ValueError, match="at least one frame"):
        offline_player(fig, lambda v: None, frames=[])
    with pytest.raises(ValueError, match="loop must be"):
        offline_player(fig, lambda v: None, frames=[1], loop="forever")
    plt.close(fig)


def test_cartpole_drawing_moves_the_cart_and_tilts_the_pole():
    fig, ax = plt.subplots()
    drawing = CartPoleDrawing(ax)
    drawing.show(1.0, 0.0, title="upright")
    x, y = drawing.pole.get_data()
    assert list(x) == [1.0, 1.0] and list(y) == [0.0, 1.0] and ax.get_title() == "upright"
    assert drawing.cart.get_x() == pytest.approx(0.75)  # centred on x
    drawing.show(-0.5, 0.5 * 3.141592653589793)  # lying flat to the right
    x, y = drawing.pole.get_data()
    assert x[1] == pytest.approx(0.5) and y[1] == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="positive"):
        CartPoleDrawing(ax, x_limit=0.0)
    plt.close(fig)
