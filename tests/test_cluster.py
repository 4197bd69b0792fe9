"""Builds spread over Dask workers (xai_report/cluster.py, attribution/remote.py, dissect/remote.py): the same bytes
as a serial build, only missing work sent out, a worker killed mid-run costs nothing, and a serial build never
imports Dask."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from xai_report.attribution import remote
from xai_report.attribution.bound import bind, on_device
from xai_report.config import load_study
from xai_report.errors import XaiReportError
from xai_report.memory import SETTINGS
from xai_report.pipeline import run_stages
from xai_report.render.site import render_site

from conftest import tiny_loaded_model, write_study

ROOT = Path(__file__).resolve().parents[1]
COMPARED = ("results.json", "maps", "overlays")


def _files(root: Path, parts: tuple[str, ...] = ()) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and (not parts or p.relative_to(root).parts[0] in parts)}


def _keys(store: Path) -> set[str]:
    return {p.name for p in (store / "objects").glob("*/*")}


def _study(tmp_path: Path, image_folder: Path, name: str):
    folder = tmp_path / name
    folder.mkdir()
    study_file = write_study(folder, image_folder, methods=("gradcam", "ablationcam"), metrics=True,
                             extra="deletion_steps = 4\n[dissection]\nenabled = false\n")
    return load_study(study_file)


def _pages_with_timings_of(study, reference) -> dict[str, bytes]:
    """``study``'s pages rendered with ``reference``'s compute seconds (the pages print them; two builds never
    measure the same seconds, so the comparison holds them equal)."""
    shutil.copy(reference.output_path / "timings.json", study.output_path / "timings.json")
    render_site(study)
    return _files(study.site_path)


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("serial")
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("n01443537_goldfish.JPEG", "n07747607_orange.JPEG"):
        shutil.copy(ROOT / "data" / "images" / name, folder / name)
    study = _study(tmp_path, folder, "serial")
    summary = run_stages(study)
    render_site(study)
    return study, folder, summary


class InProcess:
    """An engine that runs the worker's task here (what a Dask worker runs, without the cluster); records jobs."""

    threads_per_worker = None

    def __init__(self):
        self.jobs: list[remote.WorkerJob] = []

    def run(self, fn, jobs):
        self.jobs += jobs
        for i, job in enumerate(jobs):
            yield i, fn(job)


def test_the_driver_sends_only_missing_work_and_stores_it_as_a_serial_build(serial, tmp_path):
    study, folder, _ = serial
    study = _study(tmp_path, folder, "copy")
    shutil.copytree(serial[0].output_path / "store", study.output_path / "store")
    engine = InProcess()
    assert run_stages(study, engine=engine).computed == 0 and engine.jobs == []  # all stored: nothing sent

    store = study.output_path / "store"
    metrics = [p.parent for p in store.glob("objects/*/*/meta.json") if '"faithfulness"' in p.read_text()]
    shutil.rmtree(metrics[0])  # one image's metrics artifact lost
    shutil.rmtree(study.output_path / "maps")
    engine = InProcess()
    summary = run_stages(study, engine=engine)
    assert len(engine.jobs) == 1 and summary.computed == 1  # only that image went out, only that artifact is new
    assert _keys(store) == _keys(serial[0].output_path / "store")
    assert _files(study.output_path, COMPARED) == _files(serial[0].output_path, COMPARED)


def test_a_build_on_two_local_workers_gives_the_serial_bytes(serial, tmp_path):
    from xai_report.cluster import connect

    study = _study(tmp_path, serial[1], "dask")
    threads = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
    driver_threads = {k: os.environ.get(k) for k in threads}
    with connect(workers=2) as engine:
        worker_env = engine.client.run(lambda: {k: os.environ.get(k) for k in (*SETTINGS, *threads)})
        summary = run_stages(study, engine=engine)
    # The workers get the malloc settings and the driver's thread settings; Dask's OMP_NUM_THREADS=1 leaks into
    # neither (in the driver it gave a later subprocess, e.g. a build the driver starts, other bits).
    assert len(worker_env) == 2 and all(env == {**SETTINGS, **driver_threads} for env in worker_env.values())
    assert {k: os.environ.get(k) for k in threads} == driver_threads
    assert (summary.computed, summary.reused) == (serial[2].computed, serial[2].reused)
    assert _files(study.output_path, COMPARED) == _files(serial[0].output_path, COMPARED)
    assert _keys(study.output_path / "store") == _keys(serial[0].output_path / "store")
    assert _pages_with_timings_of(study, serial[0]) == _files(serial[0].site_path)


def test_a_build_joins_a_running_cluster_with_scheduler(serial, tmp_path):
    from xai_report.cluster import connect, local_cluster

    study = _study(tmp_path, serial[1], "joined")
    shutil.copytree(serial[0].output_path / "store", study.output_path / "store")
    store = study.output_path / "store"
    lost = [p.parent for p in store.glob("objects/*/*/meta.json") if '"gradcam"' in p.read_text()]
    for folder in lost:  # every image's Grad-CAM map, and so what reads it, goes to the running cluster's worker
        shutil.rmtree(folder)
    with local_cluster(1) as cluster:
        with connect(scheduler=cluster.scheduler_address) as engine:
            assert engine.threads_per_worker == torch.get_num_threads()  # Dask's workers start with 1: the build's
            summary = run_stages(study, engine=engine)
    assert summary.computed == len(lost)
    assert _keys(store) == _keys(serial[0].output_path / "store")
    assert _files(study.output_path, COMPARED) == _files(serial[0].output_path, COMPARED)


DIE_ON_FIRST_TASK = """
import os, threading, time

def dask_setup(worker):
    def watch():
        while True:
            if getattr(worker.state, "executing_count", 0):
                try:
                    os.close(os.open({marker!r}, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                except FileExistsError:
                    return  # another worker died already: this one lives
                os._exit(1)
            time.sleep(0.005)
    threading.Thread(target=watch, daemon=True).start()
"""


def test_a_worker_killed_mid_run_costs_nothing(serial, tmp_path):
    import dask

    from xai_report.cluster import connect

    marker = tmp_path / "died"
    preload = tmp_path / "die_on_first_task.py"
    preload.write_text(textwrap.dedent(DIE_ON_FIRST_TASK.format(marker=str(marker))))
    study = _study(tmp_path, serial[1], "killed")
    with dask.config.set({"distributed.worker.preload": [str(preload)]}):
        with connect(workers=2) as engine:
            summary = run_stages(study, engine=engine)
    assert marker.exists()  # a worker did die while running a task
    assert summary.computed == serial[2].computed  # each artifact stored once
    assert _keys(study.output_path / "store") == _keys(serial[0].output_path / "store")
    assert _files(study.output_path, COMPARED) == _files(serial[0].output_path, COMPARED)
    assert not list((study.output_path / "store" / "tmp").glob("*"))


def test_a_serial_build_imports_no_dask(tmp_path, image_folder):
    study_file = write_study(tmp_path, image_folder, methods=("gradcam",), extra="[dissection]\nenabled = false\n")
    code = ("import sys\nfrom xai_report.cli import main\n"
            f"main(['attribute', '--study', {str(study_file)!r}], standalone_mode=False)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "generator")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "out" / "results.json").is_file()


def test_an_unreachable_scheduler_is_one_line(tmp_path, image_folder):
    study_file = write_study(tmp_path, image_folder, methods=("gradcam",))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "generator"), "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"}
    out = subprocess.run([sys.executable, "-m", "xai_report.cli", "build", "--study", str(study_file),
                          "--scheduler", "tcp://127.0.0.1:1"], capture_output=True, text=True, env=env)
    assert out.returncode == 2
    assert out.stderr.strip().startswith("error: --scheduler tcp://127.0.0.1:1: cannot reach the scheduler")
    assert len(out.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "results.json").exists()


def test_the_device_type_is_part_of_the_model_identity_in_keys(tmp_path, image_folder):
    study = load_study(write_study(tmp_path, image_folder, methods=("gradcam",), layer="features", randomised=True))
    bound = bind(study, torch.device("cpu"), model=tiny_loaded_model(0))
    assert bound.subject.model_key["device"] == "cpu" and bound.twin.model_key["device"] == "cpu"
    key = bound.model.cache_id()
    assert on_device(key, torch.device("cuda", 1)) == {**key, "device": "cuda"}  # any GPU: one kind of bits
    assert on_device(key, torch.device("cuda")) != on_device(key, torch.device("cpu"))


def test_a_worker_with_other_code_stops_the_build_with_one_line(tmp_path, image_folder):
    study = load_study(write_study(tmp_path, image_folder, methods=("gradcam",)))
    job = remote.WorkerJob(study, remote.Identity("some study", "other code"), None, None, None, str(tmp_path), None)
    with pytest.raises(XaiReportError, match="other xai-report code"):
        remote.explain_on_worker(job)


def test_a_worker_with_other_weights_stops_the_build_with_one_line(tmp_path, image_folder):
    """The driver's identity names the model's weights; a worker whose files give other weights must not store
    artifacts under keys the driver never asked for."""
    study = load_study(write_study(tmp_path, image_folder, methods=("gradcam",)))
    driver = remote.Identity("the driver's study and weights", remote.code_id())
    job = remote.WorkerJob(study, driver, None, None, None, str(tmp_path), None)
    with pytest.raises(XaiReportError, match="other model weights"):
        remote.bound_for(job)


DISSECTION_STUDY = """
title = "dissection on workers"
seed = 0
offline = true
device = "cpu"
output_dir = "out"
site_dir = "site_src"
[models.m]
source = "packaged"
[attribution]
enabled = false
[dissection]
enabled = true
concepts_source = "labels"
wordnet_classes = "{data}/concepts/imagenet_wordnet.csv"
wordnet_ancestors = "{data}/concepts/wordnet_ancestors.csv"
models = ["m"]
layers = ["bn2", "classifier"]
probe = ["{probe}"]
top_k = 2
batch_size = 4
strip_images = 2
"""


def test_dissection_probe_blocks_on_two_workers_give_the_serial_bytes(tmp_path):
    """The probe features go out block by block (the serial build's blocks); labels, strips, pages and the store
    come out as a serial build's, and an unreadable probe image is skipped in the same place of the list."""
    from xai_report.cluster import connect
    from xai_report.dissect import remote as dissect_remote

    probe = tmp_path / "probe"
    probe.mkdir()
    for photo in sorted((ROOT / "data" / "probe" / "imagenet-samples").iterdir())[:11]:
        shutil.copy(photo, probe / photo.name)
    (probe / "n01443537_unreadable.jpg").write_bytes(b"not a jpeg")  # in the second block of four

    def study(name: str):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "study.toml").write_text(DISSECTION_STUDY.format(data=(ROOT / "data").as_posix(),
                                                                   probe=probe.as_posix()))
        return load_study(folder / "study.toml")

    serial, spread = study("serial"), study("dask")
    done = run_stages(serial)
    with connect(workers=2) as engine:
        summary = run_stages(spread, engine=engine)
        set_up = engine.client.run(lambda: bool(dissect_remote._NETWORKS._held))
    assert any(set_up.values())  # the blocks went to the workers, which set up the networks
    assert summary.computed == done.computed and done.skipped == summary.skipped == 1
    assert any("unreadable" in line for line in summary.skipped_inputs)
    outputs = ("results.json", "dissection")
    assert _files(spread.output_path, outputs) == _files(serial.output_path, outputs)
    assert _keys(spread.output_path / "store") == _keys(serial.output_path / "store")
    render_site(serial)
    assert _pages_with_timings_of(spread, serial) == _files(serial.site_path)
