"""``[notifications]`` in the plant file: validated at load, errors name the file, the field and
what to do; secrets come from environment variables and are checked at load."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.errors import ConfigError
from orchestrator.config import load_config

HEAD = """
site = "plant1"
lines = [{ id = "L1" }]
[roles.buyer]
approval_limit = 1000
[[users]]
name = "carla"
roles = ["buyer"]
email = "carla@plant.example"
"""

GOOD = HEAD + """
[notifications]
base_url = "https://autoops.plant.example"
digest_after = 3
[notifications.smtp]
host = "mail.plant.example"
port = 587
from = "autoops@plant.example"
username = "autoops"
password_env = "TEST_SMTP_PASSWORD"
[[notifications.webhooks]]
name = "chat"
url = "https://chat.plant.example/hooks/autoops"
secret_env = "TEST_HOOK_SECRET"
[[notifications.routes]]
roles = ["buyer"]
lines = ["L1"]
priorities = ["P1", "P2"]
webhooks = ["chat"]
"""

ENV = {"TEST_SMTP_PASSWORD": "pw-123", "TEST_HOOK_SECRET": "hook-123"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plant.toml"
    path.write_text(text)
    return path


def test_a_complete_table_loads(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD), environ=ENV)
    n = config.notifications
    assert n.enabled and n.smtp is not None and n.smtp.sender == "autoops@plant.example"
    assert n.routes[0].webhooks == ("chat",) and config.users[0].email == "carla@plant.example"
    assert "pw-123" not in repr(config) and "hook-123" not in repr(config)


def test_no_table_means_notifications_are_only_logged(tmp_path: Path) -> None:
    assert not load_config(write(tmp_path, HEAD), environ={}).notifications.enabled


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (('from = "autoops@plant.example"', 'from = "autoops"'), "notifications.smtp.from: 'autoops' is not a mail address"),
        (("port = 587", "port = 0"), "notifications.smtp.port"),
        (('lines = ["L1"]', 'lines = ["L9"]'), "notifications.routes[0].lines: unknown lines ['L9']"),
        (('webhooks = ["chat"]', 'webhooks = ["teams"]'), "notifications.routes[0].webhooks: unknown webhooks ['teams']"),
        (('roles = ["buyer"]\nlines', 'roles = ["buyr"]\nlines'), "notifications.routes[0].roles: unknown roles ['buyr']"),
        (('url = "https://chat', 'url = "ftp://chat'), "notifications.webhooks[0].url"),
        (("digest_after = 3", "digest_after = 3\nsend_twice = true"), "notifications.send_twice: Extra inputs"),
        (('email = "carla@plant.example"', 'email = "carla"'), "users[0].email"),
        (('password_env = "TEST_SMTP_PASSWORD"\n', ""), "notifications.smtp.password_env: a login (username) needs"),
        (('[notifications]\nbase_url = "https://autoops.plant.example"', '[web]\nhost = "0.0.0.0"\n[notifications]'),
         "notifications.base_url: links in notifications need the address people open"),
    ],
)
def test_mistakes_name_the_file_and_the_field(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    old, new = change
    assert old in GOOD
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, GOOD.replace(old, new, 1)), environ=ENV)
    assert "plant.toml" in str(err.value) and expected in str(err.value), str(err.value)


def test_a_missing_secret_is_named_at_load_without_its_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, GOOD), environ={"TEST_SMTP_PASSWORD": "pw-123"})
    assert "notifications.webhooks[0].secret_env" in str(err.value) and "TEST_HOOK_SECRET" in str(err.value)
    assert "pw-123" not in str(err.value)
