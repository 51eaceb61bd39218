"""`compose studio`: load the model once, bind the port, serve the app with uvicorn, open the page."""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
import webbrowser
from pathlib import Path

from ..errors import ComposerError


def default_takes_dir() -> Path:
    """Where takes are kept unless --takes says otherwise: $XDG_DATA_HOME/composer/takes
    (~/.local/share/composer/takes)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "composer" / "takes"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: a free one); ComposerError if it cannot be had."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise ComposerError(f"--host {host}: {e.strerror or e}") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as e:
        sock.close()
        raise ComposerError(f"--port {port}: cannot listen on {host}:{port} ({e.strerror or e})") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve(model, takes_dir: Path, host: str, port: int, open_browser: bool, echo) -> None:
    import uvicorn

    from .app import LOOPBACK_HOSTS, create_app

    loopback = is_loopback(host)
    sock = bind(host, port)
    port = sock.getsockname()[1]
    shown = "127.0.0.1" if host in ("localhost", "127.0.0.1") else host
    url = f"http://{'[' + shown + ']' if ':' in shown else shown}:{port}/"
    if not loopback:
        echo(f"warning: --host {host}: the studio is reachable from other machines on this network; "
             "anyone who reaches it can generate, upload, rename and delete takes")
    app = create_app(model, takes_dir, allowed_hosts=LOOPBACK_HOSTS if loopback else ["*"])
    echo(f"composer studio: {url}  (takes in {takes_dir}; Ctrl-C to stop)")
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    if open_browser:
        def opener():
            while not server.started and not server.should_exit:
                threading.Event().wait(0.05)
            if server.started and not webbrowser.open(url):
                echo(f"(no browser found here: open {url} in one)")
        threading.Thread(target=opener, daemon=True).start()
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn stops cleanly on Ctrl-C, then raises it again: the way to stop
        pass
    echo("composer studio: stopped")
