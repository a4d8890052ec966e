"""The run store: hashing, atomic files, verified checkpoints, train-once across processes."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from greenkd_lib.runs import (atomic as atomic_module, atomic_torch_save, atomic_write_json, atomic_write_text,
                              CheckpointCorruptError, config_hash, RunStore)

CONFIG = {"model": "mobilenetv2", "dataset": "digits", "method": "kd", "epochs": 3, "lr": 0.1,
          "milestones": [1, 2], "teacher": {"model": "resnet18", "epochs": 3}, "label": "r18->mnv2 KD"}


def result_of(epochs: int = 3) -> dict:
    return {
        "metrics": {"test_acc": 0.91},
        "footprint": {"energy_kwh": 0.002, "co2_g": 0.58842, "duration_s": 12.5, "mode": "estimate",
                      "detail": "CPU TDP x load + RAM model", "carbon_intensity": 294.21},
        "flops": {"total": 6.42e15, "pflops": 6.42, "gflops_millions": 6.42},
        "epochs": epochs,
    }


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())


# -- hashing ----------------------------------------------------------------------------------------

def test_config_hash_is_canonical_sha256():
    h = config_hash(CONFIG)
    assert len(h) == 12 and all(c in "0123456789abcdef" for c in h)
    canonical = json.dumps(CONFIG, sort_keys=True, separators=(",", ":"))
    assert h == hashlib.sha256(canonical.encode()).hexdigest()[:12]
    reordered = dict(reversed(list(CONFIG.items())))
    reordered["teacher"] = {"epochs": 3, "model": "resnet18"}
    assert config_hash(reordered) == h
    assert config_hash({**CONFIG, "milestones": (1, 2)}) == h  # tuples are JSON lists
    assert config_hash({**CONFIG, "lr": 0.01}) != h
    assert config_hash({**CONFIG, "teacher": {"model": "resnet18", "epochs": 4}}) != h


@pytest.mark.parametrize("config, error, message", [
    ({"lr": float("nan")}, ValueError, "config\\['lr'\\] is nan"),
    ({"path": Path("x")}, TypeError, "config\\['path'\\] is a PosixPath|WindowsPath"),
    ({1: "a"}, TypeError, "key 1"),
    ([("a", 1)], TypeError, "must be a Mapping"),
])
def test_config_hash_rejects_non_json(config, error, message):
    with pytest.raises(error, match=message):
        config_hash(config)


def test_config_hash_points_dataclasses_to_to_dict():
    class RunConfigLike:
        def to_dict(self):
            return {}

    with pytest.raises(TypeError, match="to_dict"):
        config_hash(RunConfigLike())


# -- atomic writes ----------------------------------------------------------------------------------

def test_atomic_writes_leave_no_temp_files(tmp_path):
    import torch

    atomic_write_text(tmp_path / "a" / "note.txt", "hello")
    atomic_write_json(tmp_path / "a" / "data.json", {"x": [1, 2.5]})
    atomic_torch_save({"w": torch.arange(3)}, tmp_path / "a" / "t.pt")
    atomic_write_text(tmp_path / "a" / "note.txt", "again")  # overwrite
    assert files_under(tmp_path) == ["a/data.json", "a/note.txt", "a/t.pt"]
    assert (tmp_path / "a" / "note.txt").read_text() == "again"
    assert json.loads((tmp_path / "a" / "data.json").read_text()) == {"x": [1, 2.5]}
    assert torch.equal(torch.load(tmp_path / "a" / "t.pt")["w"], torch.arange(3))


def test_failed_atomic_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "data.json"
    atomic_write_json(target, {"v": 1})
    with pytest.raises(TypeError, match="data.json as JSON"):
        atomic_write_json(target, {"v": object()})

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(atomic_module.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_json(target, {"v": 2})
    assert json.loads(target.read_text()) == {"v": 1}
    assert files_under(tmp_path) == ["data.json"]


# -- get_or_run -------------------------------------------------------------------------------------

def test_get_or_run_trains_once_then_reads_from_disk(tmp_path):
    store = RunStore(tmp_path / "runs")
    calls = []

    def train(run):
        calls.append(run.hash)
        assert run.state == "running"
        assert json.loads((run.dir / "config.json").read_text()) == CONFIG
        return result_of()

    first = store.get_or_run(CONFIG, train)
    assert calls == [config_hash(CONFIG)]
    assert first["hash"] == config_hash(CONFIG) and first["config"] == CONFIG
    assert first["metrics"] == {"test_acc": 0.91} and first["epochs"] == 3
    assert set(first["versions"]) == {"greenkd", "torch", "codecarbon", "python"}
    assert first["finished_at"].endswith("+00:00")

    t0 = time.perf_counter()
    second = store.get_or_run(dict(reversed(list(CONFIG.items()))), train)
    elapsed = time.perf_counter() - t0
    assert calls == [config_hash(CONFIG)] and second == first
    assert elapsed < 1.0, f"reading a finished run took {elapsed:.3f} s"
    assert store.run(CONFIG).state == "finished"


def test_reading_a_finished_run_imports_neither_torch_nor_pandas(tmp_path):
    store = RunStore(tmp_path)
    store.get_or_run({"a": 1}, lambda run: {"epochs": 0})
    code = (
        "import sys, time; t = time.perf_counter()\n"
        "from greenkd_lib.runs import RunStore\n"
        f"r = RunStore({str(tmp_path)!r}).get_or_run({{'a': 1}}, None)\n"
        "print(time.perf_counter() - t, 'torch' in sys.modules, 'pandas' in sys.modules, r['epochs'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    seconds, torch_loaded, pandas_loaded, epochs = out
    assert (torch_loaded, pandas_loaded, epochs) == ("False", "False", "0")
    assert float(seconds) < 1.0  # import included; the read itself is well under 50 ms


def test_train_fn_errors_propagate_and_release_the_lock(tmp_path):
    store = RunStore(tmp_path)

    def crash(run):
        run.write_history([{"epoch": 1, "wall_s": 1.0}])
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError, match="out of memory"):
        store.get_or_run(CONFIG, crash)
    run = store.run(CONFIG)
    assert run.state == "partial" and run.result() is None
    assert store.get_or_run(CONFIG, lambda run: result_of())["epochs"] == 3


@pytest.mark.parametrize("returned, error, message", [
    ([1, 2], TypeError, "must return a mapping"),
    ({"hash": "mine"}, ValueError, "reserved keys \\['hash'\\]"),
    ({"metrics": {"acc": object()}}, TypeError, "train_fn's result\\['metrics'\\]\\['acc'\\]"),
])
def test_bad_train_fn_results_are_refused(tmp_path, returned, error, message):
    store = RunStore(tmp_path)
    with pytest.raises(error, match=message):
        store.get_or_run(CONFIG, lambda run: returned)
    assert store.run(CONFIG).result() is None


def _train_slowly(run):
    with open(Path(run.dir).parent / "counter.txt", "a") as f:
        f.write(f"{os.getpid()}\n")
    time.sleep(1.0)  # the other process arrives while this one trains
    return {"metrics": {"pid": os.getpid()}, "epochs": 1}


def _ask_for_the_run(root: str) -> dict:
    return RunStore(root).get_or_run({"model": "shared"}, _train_slowly)


def test_two_processes_train_the_same_run_exactly_once(tmp_path):
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        results = pool.map(_ask_for_the_run, [str(tmp_path)] * 2)
    assert len((tmp_path / "counter.txt").read_text().split()) == 1
    assert results[0] == results[1]


# -- checkpoints and weights ------------------------------------------------------------------------

def test_checkpoints_keep_the_last_two_and_round_trip(tmp_path):
    import torch

    run = RunStore(tmp_path).run(CONFIG)
    assert run.load_checkpoint() is None
    for epoch in (1, 2, 3):
        run.save_checkpoint({"model": {"w": torch.full((2,), float(epoch))}, "rng": [epoch]}, epoch)
    names = files_under(run.checkpoint_dir)
    assert names == ["epoch_0002.pt", "epoch_0002.pt.sha256", "epoch_0003.pt", "epoch_0003.pt.sha256"]
    state = run.load_checkpoint()
    assert state["epoch"] == 3 and torch.equal(state["model"]["w"], torch.full((2,), 3.0))
    assert (run.dir / "config.json").exists() and run.state == "partial"
    with pytest.raises(ValueError, match="must agree"):
        run.save_checkpoint({"epoch": 5}, 4)


@pytest.mark.parametrize("damage", ["truncate", "flip", "no_checksum"])
def test_corrupt_newest_checkpoint_falls_back_to_the_previous(tmp_path, damage):
    import torch

    run = RunStore(tmp_path).run(CONFIG)
    run.save_checkpoint({"w": torch.ones(1000)}, 1)
    newest = run.save_checkpoint({"w": torch.zeros(1000)}, 2)
    data = newest.read_bytes()
    if damage == "truncate":
        newest.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        newest.write_bytes(data[:-100] + bytes([data[-100] ^ 0xFF]) + data[-99:])
    else:
        Path(str(newest) + ".sha256").unlink()
    with pytest.warns(UserWarning, match="epoch_0002.pt is unusable .* falling back"):
        state = run.load_checkpoint()
    assert state["epoch"] == 1 and torch.equal(state["w"], torch.ones(1000))
    assert (run.checkpoint_dir / "epoch_0002.pt.corrupt").exists()
    assert not newest.exists()


def test_verified_but_unloadable_checkpoint_is_not_moved_aside(tmp_path):
    run = RunStore(tmp_path).run(CONFIG)
    from greenkd_lib.runs.run import _write_verified

    path = _write_verified(run.checkpoint_dir / "epoch_0001.pt", b"not a torch file")
    with pytest.raises(RuntimeError, match="passed its checksum"):
        run.load_checkpoint()
    assert path.exists()


def test_weights_round_trip_and_corruption(tmp_path):
    import torch

    run = RunStore(tmp_path).run(CONFIG)
    model = torch.nn.Linear(3, 2)
    path = run.save_weights(model.state_dict())
    assert path == run.dir / "weights" / "final.pt"
    assert torch.load(path)["weight"].shape == (2, 3)  # a plain torch file
    loaded = run.load_weights()
    assert all(torch.equal(loaded[k], v) for k, v in model.state_dict().items())
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(CheckpointCorruptError, match="truncated"):
        run.load_weights()
    with pytest.raises(FileNotFoundError, match="available: \\['final'\\]"):
        run.load_weights("best")
    with pytest.raises(ValueError, match="weights name"):
        run.save_weights(model.state_dict(), "../escape")


def test_artifact_round_trip_and_corruption(tmp_path):
    import torch

    run = RunStore(tmp_path).run(CONFIG)
    images = torch.randint(0, 256, (4, 3, 12, 12), dtype=torch.uint8)
    path = run.save_artifact({"images": images}, "synthetic")
    assert path == run.dir / "artifacts" / "synthetic.pt" and (run.dir / "config.json").is_file()
    assert torch.equal(run.load_artifact("synthetic")["images"], images)
    with pytest.raises(FileNotFoundError, match="no artifact 'other'.*available: \\['synthetic'\\]"):
        run.load_artifact("other")
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(CheckpointCorruptError, match="truncated"):
        run.load_artifact("synthetic")
    with pytest.raises(ValueError, match="artifact name"):
        run.save_artifact({"images": images}, "../escape")
    with pytest.raises(TypeError, match="mapping of tensors"):
        run.save_artifact(images, "synthetic")


# -- history, list, remove --------------------------------------------------------------------------

def test_history_round_trip(tmp_path):
    run = RunStore(tmp_path).run(CONFIG)
    assert run.history().empty
    rows = [{"epoch": e, "wall_s": 1.5 * e, "energy_kwh": 0.001 * e, "co2_g": 0.29421 * e, "flops": 2e14 * e,
             "val_acc": 0.1 * e} for e in (1, 2)]
    run.write_history(rows)
    df = run.history()
    assert list(df.columns) == ["epoch", "wall_s", "energy_kwh", "co2_g", "flops", "val_acc"]
    assert df.to_dict("records") == rows
    with pytest.raises(TypeError, match="list of dicts"):
        run.write_history({"epoch": 1})


def test_list_shows_every_state(tmp_path):
    store = RunStore(tmp_path)
    assert store.list().empty and list(store.list().columns)[:4] == ["hash", "label", "kind", "state"]
    store.run({"label": "fresh", "epochs": 5}).write_config()
    partial = store.run({"label": "half", "epochs": 4, "method": "ce"})
    partial.write_history([{"epoch": 1, "wall_s": 3.0, "energy_kwh": 0.1, "co2_g": 29.421, "flops": 5e14},
                           {"epoch": 2, "wall_s": 6.0, "energy_kwh": 0.2, "co2_g": 58.842, "flops": 1e15}])
    store.get_or_run(CONFIG, lambda run: result_of())
    busy = store.run({"label": "busy"})
    busy.write_config()
    with busy.lock():
        table = store.list().set_index("label")
    assert table.loc["fresh", "state"] == "new"
    assert table.loc["busy", "state"] == "running"
    half = table.loc["half"]
    assert (half["state"], half["kind"], half["epochs_done"], half["epochs"]) == ("partial", "ce", 2, 4)
    assert (half["wall_s"], half["energy_kwh"], half["pflops"]) == (6.0, 0.2, 1.0)
    done = table.loc["r18->mnv2 KD"]
    assert (done["state"], done["kind"], done["epochs_done"]) == ("finished", "kd", 3)
    assert (done["wall_s"], done["co2_g"], done["pflops"]) == (12.5, 0.58842, 6.42)
    assert Path(done["path"]) == tmp_path / config_hash(CONFIG)
    assert store.list().set_index("label").loc["busy", "state"] == "new"  # lock released


def test_list_labels_runs_without_a_label(tmp_path):
    store = RunStore(tmp_path)
    store.run({"model": "mobilenetv2", "method": "kd", "seed": 0, "teacher": {"model": "resnet18"}}).write_config()
    store.run({"model": "resnet18", "method": "ce", "seed": 1}).write_config()
    assert sorted(store.list()["label"]) == ["resnet18 CE seed 1", "resnet18->mobilenetv2 KD seed 0"]


def test_labels_tell_apart_runs_that_differ_only_in_temperature_or_batch(tmp_path):
    store = RunStore(tmp_path)
    base = {"model": "mobilenetv2", "method": "kd", "seed": 0, "teacher": {"model": "resnet18"},
            "batch_size": 32, "profile": "quick"}
    store.run({**base, "temperature": {"type": "fixed", "tau": 4.0}}).write_config()
    store.run({**base, "temperature": {"type": "fixed", "tau": 8.0}}).write_config()
    store.run({**base, "batch_size": 64,
               "temperature": {"type": "stochastic", "low": 2.0, "high": 20.0, "per": "batch"}}).write_config()
    assert sorted(store.list()["label"]) == [
        "resnet18->mobilenetv2 KD tau=4 bs32 seed 0 (quick)",
        "resnet18->mobilenetv2 KD tau=8 bs32 seed 0 (quick)",
        "resnet18->mobilenetv2 KD tau~2..20/batch bs64 seed 0 (quick)",
    ]


def _configs_sharing_a_first_digit() -> tuple[dict, dict]:
    seen: dict[str, dict] = {}
    for i in range(100):
        config = {"seed": i}
        h = config_hash(config)
        if h[0] in seen:
            return seen[h[0]], config
        seen[h[0]] = config
    raise AssertionError("unreachable: 17 hashes always share a first digit")


def test_remove(tmp_path):
    store = RunStore(tmp_path)
    a, b = _configs_sharing_a_first_digit()
    for config in (a, b):
        store.get_or_run(config, lambda run: {"epochs": 1})
    ha, hb = config_hash(a), config_hash(b)
    with pytest.raises(KeyError, match=f"ambiguous.*{ha}.*{hb}|ambiguous.*{hb}.*{ha}"):
        store.remove(ha[0])
    with pytest.raises(KeyError, match="no run"):
        store.remove("0" * 12 if not ha.startswith("0" * 12) else "f" * 12)
    with pytest.raises(ValueError, match="hex digits"):
        store.remove("not-hex")
    assert store.run_by_hash(hb[:5].upper()).config == b
    with pytest.raises(KeyError, match="ambiguous"):
        store.run_by_hash(ha[0])
    with store.run(a).lock():
        with pytest.raises(RuntimeError, match="is running"):
            store.remove(ha)
    assert store.remove(ha[:6]) == tmp_path / ha
    assert not (tmp_path / ha).exists() and (tmp_path / hb).exists()
    assert list(store.list()["hash"]) == [hb]


# -- links and roots that are not what they seem (issue 31) ---------------------------------------------

def test_a_run_folder_that_is_a_link_is_neither_listed_nor_deleted(tmp_path, caplog, capsys):
    from greenkd_lib.batch.cli import main as cli_main

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "keep.txt").write_text("not the store's")
    root = tmp_path / "runs"
    root.mkdir()
    (root / ("ab" * 6)).symlink_to(outside, target_is_directory=True)
    store = RunStore(root)
    with caplog.at_level("WARNING"):
        assert store.clean(dry_run=True) == [] and store.clean() == []
    assert "is a symbolic link" in caplog.text and "neither follows nor deletes links" in caplog.text
    assert cli_main(["runs", "clean", "--root", str(root)]) == 0
    assert cli_main(["runs", "rm", "abab", "--root", str(root)]) == 2  # no such run: the link is not one
    assert (outside / "keep.txt").read_text() == "not the store's" and (root / ("ab" * 6)).is_symlink()


def test_a_runs_root_that_is_a_file_is_named(tmp_path, capsys):
    from greenkd_lib.batch.cli import main as cli_main

    file = tmp_path / "runs"
    file.write_text("a file")
    with pytest.raises(NotADirectoryError, match=r"runs_root .*runs is a file, not a folder"):
        RunStore(file)
    assert cli_main(["runs", "--root", str(file)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


# -- waits for a lock, noted for the batch (issue 30) ----------------------------------------------------


def test_a_wait_for_a_lock_is_noted_instead_of_warned_where_the_batch_asks(tmp_path, monkeypatch, caplog):
    import logging

    from greenkd_lib.runs.locking import RunLockTimeout, WAIT_NOTES_VARIABLE

    store = RunStore(tmp_path / "runs")
    notes = tmp_path / "waits.jsonl"
    monkeypatch.setenv(WAIT_NOTES_VARIABLE, str(notes))
    run = store.run({"busy": 1})
    with run.lock(), caplog.at_level(logging.INFO):
        for _ in range(2):
            with pytest.raises(RunLockTimeout):
                store.get_or_run({"busy": 1}, lambda r: {"x": 1}, timeout=0.1)
    noted = [json.loads(line) for line in notes.read_text().splitlines()]
    assert [n["what"] for n in noted] == [f"run {run.hash}"] * 2 and noted[0]["pid"] == os.getpid()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]  # the batch says it, once
    assert any("waiting for run" in r.getMessage() for r in caplog.records)  # still in the log, at INFO
