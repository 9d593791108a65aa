"""Ports picked for servers started next stay clear of outgoing connections' ports."""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator

import pytest

from docstate import devserver
from docstate.devserver import free_port


def _listen(port: int) -> socket.socket:
    s = socket.socket()
    s.bind(("127.0.0.1", port))
    s.listen()
    return s


def test_a_picked_port_is_free_and_below_the_outgoing_range() -> None:
    low = devserver._lowest_outgoing_port()
    for _ in range(20):
        port = free_port()
        assert devserver._LOWEST_PICKED <= port < low
        _listen(port).close()  # nothing holds it


def test_a_taken_port_is_passed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    held = _listen(0)
    taken = held.getsockname()[1]
    other = free_port()
    picks: Iterator[int] = iter([taken, other])
    monkeypatch.setattr(random, "randint", lambda *_: next(picks))
    monkeypatch.setattr(devserver, "_lowest_outgoing_port", lambda: 65000)
    try:
        assert free_port() == other
    finally:
        held.close()


def test_with_no_room_below_the_range_the_kernel_picks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devserver, "_lowest_outgoing_port", lambda: 1024)
    monkeypatch.setattr(random, "randint", lambda *_: pytest.fail("no room to pick"))
    port = free_port()
    assert port > 0
    _listen(port).close()
