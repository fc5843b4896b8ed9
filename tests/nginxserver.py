"""Debian's nginx with deploy/nginx/kunnskap.conf in front of a `ktl serve`, for the tests
and the benchmarks: the site file is used as it ships, with only its addresses, ports,
certificate and media folder replaced (a self-signed certificate made with openssl)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SITE = Path(__file__).resolve().parent.parent / "deploy" / "nginx" / "kunnskap.conf"
NGINX = "/usr/sbin/nginx"
MAIN = """{user}
worker_processes {workers};
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 8192; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    include {dir}/site.conf;
    {extra}
}}
"""


@dataclass(frozen=True)
class Nginx:
    https: str  # https://127.0.0.1:PORT, the site
    http: str  # the plain port, which sends everyone to HTTPS
    folder: Path


def nginx_binary() -> str:
    found = shutil.which("nginx") or (NGINX if Path(NGINX).exists() else None)
    if found is None:
        raise RuntimeError("Debian's nginx is missing: run bash scripts/install.sh --dev")
    return found


def render_site(tls_port: int, plain_port: int, upstream_port: int, media_dir: Path,
                cert: Path, key: Path, cache: Path,
                more_ports: tuple[int, ...] = ()) -> str:  # fmt: skip
    """The shipped site with this machine's ports and paths; fails when the site no longer
    has a line this replaces (so the test follows the file it checks). `more_ports`: more
    `ktl serve` processes in the `ktl` upstream (the first one receives live broadcasts)."""
    text = SITE.read_text()
    more = "".join(f"    server 127.0.0.1:{port};\n" for port in more_ports)
    replacements = {
        "    # server 127.0.0.1:8001;\n": more,
        "listen 443 ssl http2;": f"listen 127.0.0.1:{tls_port} ssl http2;",
        "listen [::]:443 ssl http2;": "",
        "listen 80;": f"listen 127.0.0.1:{plain_port};",
        "listen [::]:80;": "",
        "server 127.0.0.1:8000;": f"server 127.0.0.1:{upstream_port};",
        "/etc/letsencrypt/live/kunnskap.kommune.no/fullchain.pem": str(cert),
        "/etc/letsencrypt/live/kunnskap.kommune.no/privkey.pem": str(key),
        "alias /var/lib/ktl/media/;": f"alias {media_dir.resolve()}/;",
        "alias /var/lib/ktl/media/$ktl_talk/": f"alias {media_dir.resolve()}/$ktl_talk/",
        "root /var/lib/ktl/media;": f"root {media_dir.resolve()};",
        "proxy_cache_path /run/nginx-ktl ": f"proxy_cache_path {cache} ",
    }
    for old, new in replacements.items():
        if old not in text:
            raise AssertionError(f"{SITE.name} no longer contains {old!r}")
        text = text.replace(old, new)
    return text


def self_signed(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def configure(folder: Path, upstream_port: int, media_dir: Path, workers: int = 1,
              extra: str = "",
              more_ports: tuple[int, ...] = ()) -> tuple[Path, int, int]:  # fmt: skip
    """Write nginx.conf + site.conf into `folder`; returns (config, tls port, plain port)."""
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = self_signed(folder)
    tls_port, plain_port = _free_port(), _free_port()
    cache = folder / "cache"
    site = render_site(tls_port, plain_port, upstream_port, media_dir, cert, key, cache, more_ports)
    (folder / "site.conf").write_text(site)
    user = "user root;" if os.geteuid() == 0 else ""  # as root, workers must read tmp files
    main = MAIN.format(user=user, workers=workers, dir=folder, extra=extra)
    config = folder / "nginx.conf"
    config.write_text(main)
    return config, tls_port, plain_port


def check(config: Path) -> subprocess.CompletedProcess:
    """`nginx -t` on the configuration."""
    folder = str(config.parent)
    args = [nginx_binary(), "-t", "-p", folder, "-e", f"{folder}/error.log", "-c", str(config)]
    return subprocess.run(args, capture_output=True, text=True)


def _wait_for(port: int, process: subprocess.Popen, folder: Path, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited: {(folder / 'error.log').read_text()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError("nginx did not start")


@contextlib.contextmanager
def nginx_in_front(folder: Path, upstream_port: int, media_dir: Path, workers: int = 1,
                   extra: str = "",
                   more_ports: tuple[int, ...] = ()) -> Iterator[Nginx]:  # fmt: skip
    """Run nginx with the shipped site in front of 127.0.0.1:upstream_port (and of
    `more_ports`: more web processes; live ingest goes to upstream_port)."""
    config, tls_port, plain_port = configure(
        folder, upstream_port, media_dir, workers, extra, more_ports
    )
    checked = check(config)
    if checked.returncode != 0:
        raise RuntimeError(f"nginx -t failed:\n{checked.stderr}")
    args = [nginx_binary(), "-p", str(folder), "-e", f"{folder}/error.log", "-c", str(config),
            "-g", "daemon off;"]  # fmt: skip
    with (folder / "nginx.out").open("w") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait_for(tls_port, process, folder)
            yield Nginx(f"https://127.0.0.1:{tls_port}", f"http://127.0.0.1:{plain_port}", folder)
        finally:
            process.terminate()
            process.wait(timeout=20)
