from __future__ import annotations

import json
import pickle
import threading
from pathlib import Path

import pytest

from agents.errors import ConfigError, InputError
from agents.runtime.checkpoint import CheckpointStore, FileCheckpointStore


def test_records_round_trip_and_missing_keys_are_none(tmp_path: Path) -> None:
    store = FileCheckpointStore(tmp_path / "state")
    assert isinstance(store, CheckpointStore)
    assert store.load("agent:mill-1") is None

    store.save("agent:mill-1", {"seq": 41, "baseline": [1.5, 2.0], "nan": float("nan")})
    store.save("agent:mill-1", {"seq": 42, "baseline": [1.5, 2.0]})
    assert store.load("agent:mill-1") == {"seq": 42, "baseline": [1.5, 2.0]}
    # Keys with ':' and '/' become one file each and come back unchanged.
    store.save("actor:shard/0", {"next_cursor": 7})
    assert store.keys() == ["actor:shard/0", "agent:mill-1"]
    assert [p.name for p in (tmp_path / "state").iterdir() if p.name.endswith(".tmp")] == []

    store.delete("agent:mill-1")
    store.delete("agent:mill-1")  # absent: no error
    assert store.load("agent:mill-1") is None


def test_store_travels_to_other_processes_by_path(tmp_path: Path) -> None:
    store = FileCheckpointStore(tmp_path, fsync=False)
    store.save("agent:a", {"x": 1})
    copy = pickle.loads(pickle.dumps(store))
    assert (copy.directory, copy.fsync) == (tmp_path, False)
    assert copy.load("agent:a") == {"x": 1}


def test_relative_directory_is_refused_with_the_reason() -> None:
    with pytest.raises(ConfigError, match="must be an absolute path"):
        FileCheckpointStore("state/checkpoints")


def test_corrupt_checkpoint_names_the_file_and_what_to_do(tmp_path: Path) -> None:
    store = FileCheckpointStore(tmp_path)
    store.path_for("agent:lathe-2").write_text('{"seq": 3', encoding="utf-8")
    with pytest.raises(InputError, match=r"lathe-2\.json.*not valid JSON.*move the file away"):
        store.load("agent:lathe-2")
    store.path_for("agent:lathe-3").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(InputError, match="must hold a JSON object"):
        store.load("agent:lathe-3")


def test_a_record_that_is_not_json_leaves_the_previous_one(tmp_path: Path) -> None:
    store = FileCheckpointStore(tmp_path)
    store.save("agent:a", {"seq": 1})
    with pytest.raises(TypeError):
        store.save("agent:a", {"seq": object()})
    assert store.load("agent:a") == {"seq": 1}


def test_readers_never_see_a_half_written_record(tmp_path: Path) -> None:
    store = FileCheckpointStore(tmp_path)
    big = {"baseline": list(range(20_000))}
    store.save("agent:a", {"seq": 0, **big})
    seen: list[int] = []
    errors: list[Exception] = []

    def read() -> None:
        for _ in range(200):
            try:
                record = store.load("agent:a")
                assert record is not None
                seen.append(record["seq"])
            except (InputError, json.JSONDecodeError) as exc:  # a torn read would land here
                errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    for seq in range(1, 60):
        store.save("agent:a", {"seq": seq, **big})
    reader.join(timeout=30)
    assert errors == []
    assert seen == sorted(seen)  # only whole records, never going back
