"""The test fault proxy itself, against a tiny server that answers each line with a FETCH-like
response carrying a literal."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from tests.support.faultproxy import FaultProxy

BODY = b"0123456789" * 10  # 100 bytes
ANSWER = b"* 1 FETCH (BODY[] {%d}\r\n%s)\r\n" % (len(BODY), BODY)


@pytest.fixture
def server():
    """Answers every line received with ANSWER, until the client closes."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve(conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as lines:
            for _line in lines:
                conn.sendall(ANSWER)

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield listener.getsockname()
    listener.close()


@pytest.fixture
def proxy(server):
    with FaultProxy(*server) as p:
        yield p


def connect(proxy) -> socket.socket:
    sock = socket.create_connection((proxy.host, proxy.port), timeout=2)
    return sock


def ask(sock: socket.socket) -> bytes:
    """Send a line, read until the answer is complete or the connection closes."""
    sock.sendall(b"x\r\n")
    got = b""
    while len(got) < len(ANSWER):
        data = sock.recv(4096)
        if not data:
            break
        got += data
    return got


def test_forwards_byte_exact_both_ways(proxy):
    with connect(proxy) as sock:
        assert ask(sock) == ANSWER
        assert ask(sock) == ANSWER
    assert proxy.accepted == 1 and proxy.fired == []


def test_cut_mid_literal_after_skipped_literals(proxy):
    with connect(proxy) as sock:
        proxy.cut_after_literal(7, skip=1)
        assert ask(sock) == ANSWER  # the skipped literal passes whole
        got = ask(sock)
        marker_end = ANSWER.index(b"}\r\n") + 3
        assert got == ANSWER[: marker_end + 7]  # 7 bytes into the literal, then EOF
    assert proxy.fired == ["cut"]
    with connect(proxy) as sock:  # fired once: the next connection is clean
        assert ask(sock) == ANSWER


def test_cut_after_n_bytes(proxy):
    with connect(proxy) as sock:
        proxy.cut_after(len(ANSWER) + 5)
        assert ask(sock) == ANSWER
        assert ask(sock) == ANSWER[:5]


def test_stall_keeps_the_connection_open_and_silent(proxy):
    with connect(proxy) as sock:
        proxy.stall_after_literal(0)
        sock.settimeout(0.3)
        sock.sendall(b"x\r\n")
        got = b""
        with pytest.raises(TimeoutError):
            while True:
                got += sock.recv(4096)
        assert got == ANSWER[: ANSWER.index(b"}\r\n") + 3]
        assert proxy.open_connections == 1
    deadline = time.monotonic() + 2
    while proxy.open_connections and time.monotonic() < deadline:  # the client left: torn down
        time.sleep(0.01)
    assert proxy.open_connections == 0


def test_refuse_for_a_while_then_accept(proxy):
    proxy.refuse_for(0.3)
    with pytest.raises(ConnectionRefusedError):
        connect(proxy)
    time.sleep(0.4)
    with connect(proxy) as sock:
        assert ask(sock) == ANSWER


def test_heal_ends_refusal_at_once(proxy):
    proxy.refuse_for(60)
    proxy.heal()
    with connect(proxy) as sock:
        assert ask(sock) == ANSWER
