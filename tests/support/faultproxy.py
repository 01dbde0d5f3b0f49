"""A threaded TCP proxy for tests, between a client (the scanner) and a server (Dovecot),
that can be told at run time to cut, stall or refuse connections.

    proxy = FaultProxy(dovecot.host, dovecot.imap_port).start()
    proxy.cut_after_literal(100, skip=30)  # mid-FETCH: 100 bytes into the 31st literal
    proxy.cut_after(5000)                  # after 5000 more bytes from the server
    proxy.stall_after_literal(100)         # forward nothing more to the client, keep it open
    proxy.refuse_for(2.0)                  # new connections get ECONNREFUSED for 2 s
    proxy.heal()                           # disarm everything, accept again

Faults act on the server -> client direction, where FETCH literals travel. An armed cut
or stall fires once, on whichever connection carries the data, and counts from the
moment it was armed. A stalled connection stays open, silent, until the client gives up
(closes) or ``heal()`` / ``stop()`` drops it.
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import threading
import time
from dataclasses import dataclass

LITERAL = re.compile(rb"\{(\d+)\}\r\n")
MARKER_MAX = 24  # longest literal marker kept across chunks: "{" + 20 digits + "}\r\n"
CHUNK = 65536


@dataclass
class _Trigger:
    """Where an armed fault fires: after `nbytes` of server data, counted from arming or
    (literal=True) from the end of the (skip+1)-th literal marker seen since arming."""

    action: str  # "cut" | "stall"
    nbytes: int
    literal: bool
    skip: int = 0
    counting: bool = False  # the byte count has started
    left: int = 0


class FaultProxy:
    def __init__(self, target_host: str, target_port: int, host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.host = host
        self.port = 0
        self.accepted = 0  # connections taken since start
        self.fired: list[str] = []  # faults that happened, e.g. ["cut", "stall", "refused"]
        self._lock = threading.Lock()
        self._trigger: _Trigger | None = None
        self._tail = b""  # the end of the previous server chunk (a marker may straddle chunks)
        self._refuse_until = 0.0
        self._listener: socket.socket | None = None
        self._listener_state = threading.Condition(self._lock)
        self._running = False
        self._thread: threading.Thread | None = None
        self._pipes: set[_Pipe] = set()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> FaultProxy:
        self._listener = self._listen()
        self.port = self._listener.getsockname()[1]
        self._running = True
        self._thread = threading.Thread(target=self._accept_loop, name="faultproxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._running = False
        if self._thread is not None:
            self._thread.join(5)
        for pipe in list(self._pipes):
            pipe.close()
        with self._lock:
            if self._listener is not None:
                self._listener.close()
                self._listener = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def open_connections(self) -> int:
        return len(self._pipes)

    # ------------------------------------------------------------------ faults
    def cut_after(self, nbytes: int) -> None:
        """Close the connection once `nbytes` more bytes went from the server to the client."""
        self._arm(_Trigger("cut", nbytes, literal=False))

    def cut_after_literal(self, nbytes: int = 0, skip: int = 0) -> None:
        """Close the connection `nbytes` into the data following a `{size}` literal marker
        (a FETCH body), letting `skip` literals through first."""
        self._arm(_Trigger("cut", nbytes, literal=True, skip=skip))

    def stall_after(self, nbytes: int = 0) -> None:
        """Stop forwarding to the client after `nbytes` more bytes; the connection stays open."""
        self._arm(_Trigger("stall", nbytes, literal=False))

    def stall_after_literal(self, nbytes: int = 0, skip: int = 0) -> None:
        """Like cut_after_literal, but the connection goes silent instead of closing."""
        self._arm(_Trigger("stall", nbytes, literal=True, skip=skip))

    def refuse_for(self, seconds: float) -> None:
        """Close the listening socket: new connections are refused (ECONNREFUSED) for
        `seconds`, then accepted again. Open connections go on. Returns once refusing."""
        with self._lock:
            self._refuse_until = time.monotonic() + seconds
            self.fired.append("refused")
            while self._listener is not None and self._running:
                self._listener_state.wait(1)

    def heal(self) -> None:
        """Disarm every fault, accept connections again, drop stalled connections."""
        with self._lock:
            self._trigger = None
            self._refuse_until = 0.0
            while self._listener is None and self._running:
                self._listener_state.wait(1)
        for pipe in list(self._pipes):
            if pipe.stalled:
                pipe.close()

    @property
    def armed(self) -> bool:
        return self._trigger is not None

    def _arm(self, trigger: _Trigger) -> None:
        if not trigger.literal:
            trigger.counting, trigger.left = True, trigger.nbytes
        with self._lock:
            self._trigger = trigger
            self._tail = b""

    def _inspect(self, chunk: bytes) -> tuple[int, str | None]:
        """How much of this server chunk to forward, and the fault to apply after it."""
        with self._lock:
            trigger = self._trigger
            if trigger is None:
                return len(chunk), None
            start = 0
            if not trigger.counting:
                data = self._tail + chunk
                offset = len(self._tail)
                self._tail = data[-MARKER_MAX:]
                for match in LITERAL.finditer(data):
                    if match.end() <= offset:
                        continue  # seen with the previous chunk
                    if trigger.skip:
                        trigger.skip -= 1
                        continue
                    trigger.counting, trigger.left = True, trigger.nbytes
                    start = match.end() - offset
                    break
                else:
                    return len(chunk), None
            available = len(chunk) - start
            if available < trigger.left:
                trigger.left -= available
                return len(chunk), None
            self._trigger = None  # fires once
            self.fired.append(trigger.action)
            return start + trigger.left, trigger.action

    # ------------------------------------------------------------------ plumbing
    def _listen(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(64)
        return sock

    def _accept_loop(self) -> None:
        while self._running:
            with self._lock:
                refusing = time.monotonic() < self._refuse_until
                if refusing and self._listener is not None:
                    self._listener.close()  # the kernel now answers RST: ECONNREFUSED
                    self._listener = None
                    self._listener_state.notify_all()
                elif not refusing and self._listener is None:
                    self._listener = self._listen()
                    self._listener_state.notify_all()
                listener = self._listener
            if listener is None:
                time.sleep(0.01)
                continue
            try:
                ready, _, _ = select.select([listener], [], [], 0.01)
                if not ready:
                    continue
                client, _addr = listener.accept()
            except OSError:
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()  # the server is down: the client sees the connection close
                continue
            server.settimeout(None)
            self.accepted += 1
            _Pipe(self, client, server).start()


class _Pipe:
    """One proxied connection: two pump threads, torn down together."""

    def __init__(self, proxy: FaultProxy, client: socket.socket, server: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.server = server
        self.stalled = False
        self.closed = threading.Event()

    def start(self) -> None:
        self.proxy._pipes.add(self)
        threading.Thread(target=self._upstream, daemon=True).start()
        threading.Thread(target=self._downstream, daemon=True).start()

    def close(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        for sock in (self.client, self.server):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self.proxy._pipes.discard(self)

    def _upstream(self) -> None:
        """Client -> server, untouched; the client closing ends the connection (a stalled
        one too: that is how a timed-out client leaves)."""
        try:
            while not self.closed.is_set():
                data = self.client.recv(CHUNK)
                if not data:
                    break
                self.server.sendall(data)
        except OSError:
            pass
        self.close()

    def _downstream(self) -> None:
        """Server -> client, where the armed fault fires."""
        try:
            while not self.closed.is_set():
                data = self.server.recv(CHUNK)
                if not data:
                    break
                keep, action = self.proxy._inspect(data)
                if keep:
                    self.client.sendall(data[:keep])
                if action == "cut":
                    break
                if action == "stall":
                    self.stalled = True
                    self.closed.wait()
                    return
        except OSError:
            pass
        self.close()
