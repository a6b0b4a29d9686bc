"""book/_ext/nbclient_poll.py: the book build waits for kernel messages in short polls.

A fake clock and a fake ``get_msg`` stand in for the socket: each fake poll that finds nothing
advances the clock by its own timeout, so the tests check exactly how the wait is sliced.
"""
import asyncio
import importlib.util
from pathlib import Path
from queue import Empty
from types import SimpleNamespace

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
EXT = ROOT / "book" / "_ext" / "nbclient_poll.py"


@pytest.fixture
def ext(monkeypatch):
    spec = importlib.util.spec_from_file_location("nbclient_poll_under_test", EXT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    clock = SimpleNamespace(now=0.0)
    monkeypatch.setattr(module, "time", SimpleNamespace(monotonic=lambda: clock.now))
    module.clock = clock
    return module


def fake_socket(clock, arrives_at):
    """A get_msg whose message is there from ``arrives_at`` on; records each poll's timeout."""
    polls = []

    async def get_msg(self, timeout=None):
        polls.append(timeout)
        if clock.now >= arrives_at:
            return {"msg_type": "execute_reply"}
        clock.now += timeout
        raise Empty

    return get_msg, polls


def wait(ext, timeout, get_msg):
    ext._original_get_msg = get_msg  # the module is a fresh copy per test (fixture)
    return asyncio.run(ext.get_msg_in_slices(None, timeout))


def test_a_message_is_returned_at_the_first_poll_that_sees_it(ext):
    get_msg, polls = fake_socket(ext.clock, arrives_at=1.2)
    assert wait(ext, 600, get_msg) == {"msg_type": "execute_reply"}
    assert polls == [ext.SLICE] * 4  # seen by the poll starting at 1.5 s, not after 600 s
    assert ext.clock.now == pytest.approx(1.5)


def test_no_message_raises_empty_after_the_whole_timeout_and_not_before(ext):
    get_msg, polls = fake_socket(ext.clock, arrives_at=float("inf"))
    with pytest.raises(Empty):
        wait(ext, 1.2, get_msg)
    assert max(polls) <= ext.SLICE
    assert ext.clock.now == pytest.approx(1.2)  # the slices add up to the caller's timeout


def test_zero_timeout_polls_once(ext):
    get_msg, polls = fake_socket(ext.clock, arrives_at=float("inf"))
    with pytest.raises(Empty):
        wait(ext, 0, get_msg)
    assert polls == [0]


def test_no_timeout_waits_in_slices_until_a_message(ext):
    get_msg, polls = fake_socket(ext.clock, arrives_at=3.0)
    assert wait(ext, None, get_msg)["msg_type"] == "execute_reply"
    assert polls == [ext.SLICE] * 7


def test_setup_replaces_the_async_channels_get_msg(ext, monkeypatch):
    from jupyter_client.channels import AsyncZMQSocketChannel

    monkeypatch.setattr(AsyncZMQSocketChannel, "get_msg", AsyncZMQSocketChannel.get_msg)  # restored after
    ext.setup(app=None)
    assert AsyncZMQSocketChannel.get_msg is ext.get_msg_in_slices


def test_the_book_build_loads_the_extension():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    sphinx = config["sphinx"]
    assert "nbclient_poll" in sphinx["config"]["extensions"]  # the list there replaces Jupyter Book's
    assert (ROOT / sphinx["local_extensions"]["nbclient_poll"] / "nbclient_poll.py").is_file()
