"""What `serve` decides from its options (binding, token, read-only), and the Host rules."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from kino_catalog import Catalog
from kino_catalog.web.security import AccessRules, is_loopback

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tests.factories import CliResult


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch, db_path: Path) -> dict[str, Any]:
    """Captures what `serve` would run instead of running uvicorn (on an empty catalogue)."""
    import uvicorn

    Catalog.open(db_path).close()  # serve only reads: it refuses a catalogue that is not there

    found: dict[str, Any] = {}

    def fake_run(app: Any, **options: Any) -> None:
        found["app"] = app
        found.update(options)

    monkeypatch.setattr(uvicorn, "run", fake_run)
    return found


def _config(started: dict[str, Any]) -> Any:
    return started["app"].state.server.config


def test_local_by_default_with_edits(
    run_cli: Callable[..., CliResult], started: dict[str, Any]
) -> None:
    result = run_cli("serve")
    assert result.code == 0, result.err
    assert started["host"] == "127.0.0.1"
    assert started["port"] == 8765
    rules = _config(started).rules
    assert rules.token is None
    assert rules.allow_edits is True
    assert "serving http://127.0.0.1:8765/" in result.err


def test_other_addresses_need_a_token_and_are_read_only(
    run_cli: Callable[..., CliResult], started: dict[str, Any]
) -> None:
    result = run_cli("serve", "--host", "0.0.0.0", "--port", "9000")
    assert result.code == 0, result.err
    rules = _config(started).rules
    assert rules.token is not None
    assert len(rules.token) >= 16
    assert f"?token={rules.token}" in result.err
    assert rules.allow_edits is False
    assert "read-only" in result.err
    run_cli("serve", "--host", "192.168.1.5", "--allow-edits", "--token", "a-long-enough-token")
    rules = _config(started).rules
    assert rules.token == "a-long-enough-token"
    assert rules.allow_edits is True


def test_read_only_and_bad_tokens(
    run_cli: Callable[..., CliResult], started: dict[str, Any]
) -> None:
    assert run_cli("serve", "--read-only").code == 0
    assert _config(started).rules.allow_edits is False
    short = run_cli("serve", "--token", "short")
    assert short.code == 2
    assert "--token" in short.err
    assert run_cli("serve", "--token", "has spaces; and = signs!!").code == 2


@pytest.mark.parametrize(
    ("bind", "host", "allowed"),
    [
        ("127.0.0.1", "127.0.0.1:8765", True),
        ("127.0.0.1", "localhost", True),
        ("127.0.0.1", "[::1]:8765", True),
        ("127.0.0.1", "192.168.1.5:8765", False),
        ("127.0.0.1", "attacker.example", False),
        ("192.168.1.5", "192.168.1.5:8765", True),
        ("192.168.1.5", "studio.lan:8765", False),
        ("0.0.0.0", "studio.lan:8765", True),
        ("::", "[fe80::1]:8765", True),
    ],
)
def test_host_rules(bind: str, host: str, allowed: bool) -> None:
    assert AccessRules(bind_host=bind).is_host_allowed(host) is allowed


def test_extra_hosts_and_loopback() -> None:
    rules = AccessRules(bind_host="192.168.1.5", extra_hosts=("Studio.LAN",))
    assert rules.is_host_allowed("studio.lan:8765")
    assert is_loopback("127.0.0.2")
    assert is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("0.0.0.0")
    assert not is_loopback("192.168.1.5")
