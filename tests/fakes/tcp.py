"""A TCP listener on loopback that records every connection it accepts, then closes it:
proof that nothing (no HTTP, no SMTP, not even a handshake) reached an address."""

from __future__ import annotations

import socket
import threading


class ConnectionRecorder:
    def __init__(self) -> None:
        self.peers: list[tuple[str, int]] = []
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port = int(self._sock.getsockname()[1])
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, peer = self._sock.accept()
            except OSError:
                return
            self.peers.append(peer)
            conn.close()

    def stop(self) -> None:
        self._sock.close()
