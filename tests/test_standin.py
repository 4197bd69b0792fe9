"""The default study's code paths with stand-in weights (``studies/standin.toml``, ``benchmarks/standin_weights.py``).

The default study's trained weights cannot be downloaded in CI, so it would otherwise run only with tiny
models. Here its real architectures (torchvision ResNet50 and ResNet18, CSAIL's Places365 ResNet18, open_clip
ViT-B-16) load random weights from files in the real formats and the whole study builds, at reduced size,
through ``xai-report build`` and ``mkdocs build --strict``, as a user would run them.

Select these tests with ``-m standin``; they run in the default ``python -m pytest -q`` too. The build takes
about 2.5 minutes on a 2-core machine, half of it Score-CAM: one ResNet50
pass per distinct mask of layer4's 2048 channels, which no study key makes cheaper.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import torchvision

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO / "studies" / "default.toml"
STANDIN = REPO / "studies" / "standin.toml"
WEIGHTS_SCRIPT = REPO / "benchmarks" / "standin_weights.py"

pytestmark = pytest.mark.standin

ALLOWED_DIFFERENCES = (
    r"title",  # says that the weights are stand-ins, on every page
    r"output_dir",  # its own results, never mixed with the default study's
    r"models\.[^.]+\.file",  # where each classifier's weights come from
    r"dissection\.clip\.file",  # where CLIP's weights come from
)
"""Key paths in which ``studies/standin.toml`` may differ from ``studies/default.toml``."""

# The reduced size: 1 image, 32 probe photos (24 objects, 8 scenes), 300 concepts. The probe folders and the
# concept file keep their names, so that the reduced study file differs from studies/standin.toml only in
# the cost keys set below.
IMAGES = ("n02007558_flamingo.JPEG",)  # one: each image costs a Score-CAM of 2,048 masks
PROBE = {"imagenet-samples": 24, "scenes": 8}
CONCEPTS = 300
REDUCED = {
    ("attribution", "deletion_steps"): 5,
    ("attribution.lime", "num_samples"): 40,
    ("attribution.lime", "batch_size"): 40,
    ("attribution", "randomised_methods"): ["gradcam"],  # the randomised check's code paths, without a second Score-CAM
}
MISSING = object()


def flatten(table: dict, prefix: str = "") -> dict[str, object]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (lists are values)."""
    flat = {}
    for key, value in table.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{path}."))
        else:
            flat[path] = value
    return flat


def read_toml(path: Path) -> dict:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def test_standin_study_differs_from_default_only_in_weight_sources():
    default, standin = flatten(read_toml(DEFAULT)), flatten(read_toml(STANDIN))
    differ = sorted(k for k in default.keys() | standin.keys() if default.get(k, MISSING) != standin.get(k, MISSING))
    unexpected = [k for k in differ if not any(re.fullmatch(pattern, k) for pattern in ALLOWED_DIFFERENCES)]
    assert not unexpected, f"studies/standin.toml differs from studies/default.toml in {unexpected}"
    # every weight the default study would download comes from a stand-in file instead
    models = read_toml(DEFAULT)["models"]
    files = {k for k in differ if k.endswith(".file")}
    wanted = {f"models.{m}.file" for m in models} | {"dissection.clip.file"}
    assert files == wanted, f"studies/standin.toml lacks stand-in files for {sorted(wanted - files)}"


def test_standin_study_names_exactly_the_files_the_script_writes():
    sys.path.insert(0, str(WEIGHTS_SCRIPT.parent))
    try:
        from standin_weights import FILES
    finally:
        sys.path.remove(str(WEIGHTS_SCRIPT.parent))
    named = [Path(v) for k, v in flatten(read_toml(STANDIN)).items() if k.endswith(".file")]
    assert {p.parent.as_posix() for p in named} == {"../.standin"}  # the script's default folder, from studies/
    assert sorted(p.name for p in named) == sorted(FILES)


def set_key(text: str, table: str, key: str, value: object) -> str:
    """``text`` (TOML) with ``key = value`` in ``[table]``: the key's line replaced, or added under the header."""
    header = f"[{table}]\n"
    start = text.index(header) + len(header)
    end = text.find("\n[", start)
    end = len(text) if end < 0 else end + 1
    body, line = text[start:end], f"{key} = {json.dumps(value)}\n"
    body, found = re.subn(rf"(?m)^{re.escape(key)}\s*=.*\n", line, body)
    return text[:start] + (body if found else line + body) + text[end:]


def reduced_study(root: Path) -> Path:
    """``studies/standin.toml`` in ``root/studies/``, with the repository's data, reduced, at the same relative
    paths; outputs, weights, site and mkdocs.yml all land in ``root``."""
    data = root / "data"
    (data / "images").mkdir(parents=True)
    for name in IMAGES:
        shutil.copy(REPO / "data" / "images" / name, data / "images" / name)
    for folder, count in PROBE.items():
        (data / "probe" / folder).mkdir(parents=True)
        for photo in sorted((REPO / "data" / "probe" / folder).iterdir())[:count]:
            shutil.copy(photo, data / "probe" / folder / photo.name)
    (data / "concepts").mkdir()
    concepts = (REPO / "data" / "concepts" / "20k.txt").read_text(encoding="utf-8").splitlines()[:CONCEPTS]
    (data / "concepts" / "20k.txt").write_text("\n".join(concepts) + "\n", encoding="utf-8")
    shutil.copytree(REPO / "benchmarks" / "results", root / "benchmarks" / "results")
    shutil.copytree(REPO / "data" / "annotations", data / "annotations")
    text = STANDIN.read_text(encoding="utf-8")
    for (table, key), value in REDUCED.items():
        text = set_key(text, table, key, value)
    (root / "studies").mkdir()
    shutil.copytree(REPO / "studies" / "claims", root / "studies" / "claims")
    study = root / "studies" / "standin.toml"
    study.write_text(text, encoding="utf-8")
    got, want = flatten(read_toml(study)), flatten(read_toml(STANDIN))
    assert {k for k in got.keys() | want.keys() if got.get(k) != want.get(k)} == {f"{t}.{k}" for t, k in REDUCED}
    return study


def run(*command: str, cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    done = subprocess.run(list(command), cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(command[:4])} ... failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Stand-in weights written by the script, the reduced study built by ``xai-report build``, then
    ``mkdocs build --strict``; yields (root, results)."""
    root = tmp_path_factory.mktemp("standin")
    study = reduced_study(root)
    run(sys.executable, str(WEIGHTS_SCRIPT), "--out", str(root / ".standin"), cwd=REPO, timeout=300)
    cli = [sys.executable, "-m", "xai_report.cli"]
    run(*cli, "build", "--study", str(study), "--offline", cwd=root, timeout=1200)
    run(sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(root / "mkdocs.yml"), cwd=root, timeout=300)
    results = json.loads((root / "output" / "standin" / "results.json").read_text(encoding="utf-8"))
    yield root, results
    shutil.rmtree(root / ".standin", ignore_errors=True)  # 760 MiB: do not keep it among pytest's last runs


def test_results_json_validates_against_the_shipped_schema(built):
    root, results = built
    schema = json.loads((root / "output" / "standin" / "results.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(results, schema, cls=jsonschema.Draft202012Validator)
    assert results["dissection"]["clip"] is not None  # the CLIP concept source's fields are in the schema too


def test_attribution_model_is_resnet50_fed_as_torchvision_feeds_it(built):
    _, results = built
    model = results["attribution"]["model"]
    tf = torchvision.models.ResNet50_Weights.IMAGENET1K_V2.transforms()
    assert model["num_classes"] == 1000 and model["layer"] == "layer4[-1]"
    assert (model["preprocess"]["resize"], model["preprocess"]["crop"]) == (tf.resize_size[0], tf.crop_size[0]) == (232, 224)


def test_every_method_has_a_224x224_map_for_every_image(built):
    root, results = built
    images = results["attribution"]["images"]
    assert sorted(r["file"] for r in images) == sorted(IMAGES)
    methods = read_toml(STANDIN)["attribution"]["methods"]
    for image in images:
        assert sorted(image["methods"]) == sorted(methods), image["file"]
        for method, entry in image["methods"].items():
            heat = np.load(root / "output" / "standin" / entry["map"])
            assert heat.shape == (224, 224) and np.isfinite(heat).all(), (image["file"], method, heat.shape)
            assert (root / "output" / "standin" / entry["overlay"]).is_file()


def test_dissection_labels_both_resnet18s_at_their_real_layers(built):
    _, results = built
    dissection = results["dissection"]
    neurons = {m["key"]: {layer["name"]: layer["neurons"] for layer in m["layers"]} for m in dissection["models"]}
    assert neurons == {"resnet18_imagenet": {"layer3": 256, "layer4": 512, "fc": 1000},
                       "resnet18_places365": {"layer3": 256, "layer4": 512, "fc": 365}}
    assert dissection["clip"]["arch"] == "ViT-B-16" and ":file:" in dissection["clip"]["id"]
    assert dissection["probe"]["images"] == sum(PROBE.values()) and dissection["concepts"]["count"] == CONCEPTS


def test_random_networks_get_few_trusted_labels(built):
    """Stand-in weights are random: a label test worth its name trusts few of their labels. The shuffled-activation
    null alone passed most of them (86.7% and 82.2% before the randomised-model null was added)."""
    _, results = built
    for model in results["dissection"]["models"]:
        for layer in model["layers"]:
            assert layer["semantic"]["share"] <= 0.10, (model["key"], layer["name"], layer["semantic"])
            twin = layer["quality"]["randomised"]
            assert twin["held_out_above_threshold_share"] <= 0.10, (model["key"], layer["name"], twin)


def test_site_built_strict(built):
    root, results = built
    site = root / "site"
    pages = [site / "index.html", site / "attribution" / "gallery" / "index.html", site / "dissection" / "compare" / "index.html"]
    pages += [site / "attribution" / "images" / image["id"] / "index.html" for image in results["attribution"]["images"]]
    pages += [site / "dissection" / model["slug"] / layer["slug"] / "index.html"
              for model in results["dissection"]["models"] for layer in model["layers"]]
    missing = [str(p.relative_to(site)) for p in pages if not p.is_file()]
    assert not missing, f"mkdocs build --strict passed but these pages are missing: {missing}"
