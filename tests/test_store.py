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
