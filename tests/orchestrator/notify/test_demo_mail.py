"""The headless demo on the sample plant with a mail server named in its plant file: everyone who
signed an approval had been mailed about it first, with a link to the item, and no mail went twice.

The whole product path: ``autoops demo --config`` builds the worker with ``Notifications`` from
``[notifications]``; the mails arrive at a real SMTP server on loopback run by this test.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.orchestrator.demo_run import REPO, demo_env, finish, start
from tests.orchestrator.notify.mailbox import body, smtp_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SAMPLE = REPO / "orchestrator" / "plants" / "precision_components.toml"


def test_the_demo_mails_each_approver_before_they_sign(tmp_path: Path) -> None:
    with smtp_server() as (box, port):
        plant = tmp_path / "plant.toml"
        plant.write_text(
            SAMPLE.read_text()
            + f'\n[notifications]\ndigest_after = 0\n\n[notifications.smtp]\nhost = "127.0.0.1"\nport = {port}\n'
            'from = "autoops@precision-components.example"\nstarttls = false\n'
        )
        state = tmp_path / "state"
        env = demo_env(state)
        code, summary, err = finish(start(state, env, "--fresh", "--config", str(plant)), env, timeout_s=600)
        assert code == 0, (summary.get("expected_outcomes"), err[-3000:], [m["Subject"] for m in box.messages])
        web = f"http://127.0.0.1:{env['AUTOOPS_WEB_PORT']}"
        approved = [e for e in summary["timeline"] if e["what"] == "approved"]
        assert approved
        for entry in approved:
            mine = box.to(f"{entry['by']}@precision-components.example")
            link = f"{web}/approvals/{quote(entry['workflow'], safe='/')}"
            assert any(link in body(m) and "waits for approval" in body(m) for m in mine), (
                entry, [m["Subject"] for m in mine], err[-2000:]
            )
        ids = Counter(m["Message-ID"] for m in box.messages)
        assert ids and ids.most_common(1)[0][1] == 1  # nothing sent twice
        assert (state / "notifications.sqlite").exists()
