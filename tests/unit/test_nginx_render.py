"""The local rendering of the production nginx config (tests/nginx.py): one app process, or several behind the
upstream as the soak test runs them."""

from __future__ import annotations

import re
from pathlib import Path

from tests.nginx import NGINX_CONF, render_server_config


def upstream_servers(config: str) -> list[str]:
    block = re.search(r"upstream\s+videoflix_web\s*\{(.*?)\}", config, re.S)
    assert block is not None, config
    return re.findall(r"\bserver\s+([^;\s]+);", block.group(1))


def render(**extra: object) -> str:
    return render_server_config(
        NGINX_CONF.read_text(encoding="utf-8"),
        app_host="127.0.0.1",
        app_port=8123,
        listen_host="127.0.0.1",
        listen_port=8080,
        media_root=Path("/tmp/media"),
        **extra,  # type: ignore[arg-type]
    )


def test_one_app_port_is_the_only_upstream_server():
    assert upstream_servers(render()) == ["127.0.0.1:8123"]


def test_several_app_ports_become_one_server_line_each():
    assert upstream_servers(render(app_ports=[8123, 8124])) == ["127.0.0.1:8123", "127.0.0.1:8124"]
