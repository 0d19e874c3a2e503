"""A TCP forwarder that can stall a peer's traffic (Proxy), and the pytest fixture that makes them:
how a live test keeps an operation provably running while it breaks something."""
import socket
import threading


class Proxy:
    """A TCP forwarder on 127.0.0.1 in front of `upstream` ("host:port"). A test declares the
    proxy's address instead of the server's and can stall the traffic:
    - stall_after(marker, extra): once `marker` has passed towards the client, at most `extra`
      more bytes of the server's replies pass; the rest waits (to_client=False: the same for
      what the client sends, e.g. in the middle of a request);
    - hold(): from its return on, nothing passes in either direction;
    - release(): everything flows again.
    While the proxy holds back bytes (wait_stalled), a client that needs them, or a server that
    needs the rest of a request, cannot finish: the operation using the proxy is provably still
    running."""

    def __init__(self, upstream):
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._cond = threading.Condition()
        self._held = False
        self._marker = None    # armed stall: the marker not seen yet
        self._extra = 0
        self._to_client = True  # the direction a stall applies to
        self._budget = None    # bytes that may still pass in that direction; None = no limit
        self._waiting = 0      # chunks received but held back
        self._sending = 0      # sends in progress
        self._closed = False
        self._sockets = []
        self.connections = 0
        self.bytes_to_client = 0  # what the server sent that reached clients
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def address(self):
        return "127.0.0.1:%d" % self._listener.getsockname()[1]

    def stall_after(self, marker, extra=0, to_client=True):
        with self._cond:
            self._marker, self._budget = marker, None
            self._extra, self._to_client = extra, to_client

    def hold(self):
        with self._cond:
            self._held = True
            self._cond.wait_for(lambda: self._sending == 0)

    def release(self):
        with self._cond:
            self._held, self._marker, self._budget = False, None, None
            self._cond.notify_all()

    def holding(self):
        """Whether bytes are held back right now."""
        with self._cond:
            return self._waiting > 0

    def wait_stalled(self, timeout=300):
        """Waits until the proxy holds back bytes (more data exists that the other side has not
        received); returns the bytes of the server's replies that reached clients so far."""
        with self._cond:
            assert self._cond.wait_for(lambda: self._waiting > 0, timeout), \
                "the proxy for %s:%d held nothing back within %d s" % (*self.upstream, timeout)
            return self.bytes_to_client

    def close(self):
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            sockets = list(self._sockets)
        for s in [self._listener] + sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _accept(self):
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            try:
                server = socket.create_connection(self.upstream, timeout=60)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._cond:
                if self._closed:
                    client.close()
                    server.close()
                    return
                self.connections += 1
                self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()

    def _allowed(self, data, tail, to_client):
        """How many bytes of `data` may pass now (called with the lock held)."""
        if self._held:
            return 0
        if to_client != self._to_client:
            return len(data)
        if self._marker is not None and self._budget is None:
            i = (tail + data).find(self._marker)
            if i >= 0:  # the marker ends `end` bytes into data; `extra` more may follow it
                end = i + len(self._marker) - len(tail)
                self._budget = end + self._extra
        return len(data) if self._budget is None else min(len(data), self._budget)

    def _pump(self, src, dst, to_client):
        tail = b""  # the end of what passed, for a marker split across reads
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    return
                while data:
                    with self._cond:
                        n = self._allowed(data, tail, to_client)
                        while n == 0 and not self._closed:
                            self._waiting += 1
                            self._cond.notify_all()
                            self._cond.wait()
                            self._waiting -= 1
                            n = self._allowed(data, tail, to_client)
                        if self._closed:
                            return
                        if to_client == self._to_client and self._budget is not None:
                            self._budget -= n
                        self._sending += 1
                    try:
                        dst.sendall(data[:n])
                    finally:
                        with self._cond:
                            self._sending -= 1
                            if to_client:
                                self.bytes_to_client += n
                            self._cond.notify_all()
                    if self._marker is not None:
                        tail = (tail + data[:n])[-(len(self._marker) - 1):] if len(self._marker) > 1 else b""
                    data = data[n:]
        except OSError:
            return  # a peer went away; the other side sees the close below
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def proxy_fixture():
    """A pytest fixture that makes Proxy(upstream) on demand and closes them all after the test."""
    import pytest

    @pytest.fixture
    def fixture():
        made = []

        def make(upstream):
            made.append(Proxy(upstream))
            return made[-1]
        yield make
        for proxy in made:
            proxy.close()
    return fixture
