"""The artifact store: content keys, atomic artifacts, one build at a time."""

import multiprocessing

import numpy as np
import pytest

from xai_report.errors import XaiReportError
from xai_report.store import ArtifactStore, content_key


def test_key_depends_on_every_part():
    base = content_key(model="a", image="b", method="c", params={"n": 1})
    assert base == content_key(params={"n": 1}, method="c", image="b", model="a")
    assert base != content_key(model="a", image="b", method="c", params={"n": 2})
    assert base != content_key(model="a", image="B", method="c", params={"n": 1})


def test_put_get_roundtrip(tmp_path):
    store = ArtifactStore(tmp_path)
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    store.put("k" * 64, {"kind": "x"}, {"map.npy": arr, "o.jpg": b"jpeg"})
    got = store.get("k" * 64)
    assert got.meta["kind"] == "x" and np.array_equal(got.array("map.npy"), arr)
    assert got.file("o.jpg").read_bytes() == b"jpeg"
    assert store.get("z" * 64) is None


def test_incomplete_artifact_counts_as_missing(tmp_path):
    store = ArtifactStore(tmp_path)
    art = store.put("a" * 64, {}, {"map.npy": np.zeros(3)})
    art.file("map.npy").unlink()
    assert store.get("a" * 64) is None
    store.put("a" * 64, {}, {"map.npy": np.ones(3)})
    assert store.get("a" * 64).array("map.npy").sum() == 3


def _hold_lock(root, ready, release):
    with ArtifactStore(root).lock():
        ready.set()
        release.wait(10)


def test_second_build_stops_clearly(tmp_path):
    ready, release = multiprocessing.Event(), multiprocessing.Event()
    proc = multiprocessing.Process(target=_hold_lock, args=(tmp_path, ready, release))
    proc.start()
    try:
        assert ready.wait(10)
        with pytest.raises(XaiReportError, match="another build of this study is running"):
            with ArtifactStore(tmp_path).lock():
                pass
    finally:
        release.set()
        proc.join()
    with ArtifactStore(tmp_path).lock():
        pass


def _write_same_keys(root, keys, barrier, errors):
    store = ArtifactStore(root)
    for key in keys:
        barrier.wait(10)  # both writers on the same key at the same moment
        try:
            files = {f"o{i}.jpg": b"x" * 1000 for i in range(30)} | {"map.npy": np.full(256, 7.0)}
            got = store.put(key, {"kind": "race"}, files)
            if not np.array_equal(got.array("map.npy"), np.full(256, 7.0)):
                errors.put(f"{key[:8]}: wrong map")
        except Exception as exc:  # noqa: BLE001 - the test reports whatever a writer raised
            errors.put(f"{key[:8]}: {type(exc).__name__}: {exc}")


def test_two_processes_writing_the_same_keys_both_succeed(tmp_path):
    """Two writers of one key (two Dask workers, or a worker and the driver): both succeed, the second finds
    it stored, and the store holds one complete artifact (``put`` used to delete the folder it replaced)."""
    keys = [f"{i:064x}" for i in range(200)]
    barrier, errors = multiprocessing.Barrier(2), multiprocessing.Queue()
    procs = [multiprocessing.Process(target=_write_same_keys, args=(tmp_path, keys, barrier, errors)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    found = []
    while not errors.empty():
        found.append(errors.get())
    assert found == [] and all(p.exitcode == 0 for p in procs)
    store = ArtifactStore(tmp_path)
    assert all(store.get(k) is not None for k in keys)
    assert sorted(p.name for p in (tmp_path / "tmp").iterdir()) == []


def test_put_keeps_a_complete_artifact_and_replaces_an_incomplete_one(tmp_path):
    store = ArtifactStore(tmp_path)
    first = store.put("b" * 64, {"n": 1}, {"map.npy": np.zeros(3)})
    again = store.put("b" * 64, {"n": 2}, {"map.npy": np.ones(3)})  # a second writer of a stored key
    assert again.meta["n"] == 1 and store.get("b" * 64).meta["n"] == 1 and first.path == again.path
    first.file("map.npy").unlink()  # a leftover get() refuses is replaced
    assert store.put("b" * 64, {"n": 3}, {"map.npy": np.ones(3)}).meta["n"] == 3
    assert store.get("b" * 64).array("map.npy").sum() == 3
