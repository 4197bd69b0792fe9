"""The benchmark's JSON results become the README's and the site's speed tables, unchanged."""

import json
import sys

import pytest

from xai_report.errors import BadInput
from xai_report.paths import REPO_ROOT
from xai_report.render.benchmarks import benchmark_markdown, load_runs

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
import table  # noqa: E402


def run(**overrides) -> dict:
    base = {
        "mode": "full",
        "machine": {"cpu_count": 16, "torch_threads": 16, "torch": "2.14.1", "device": "cuda",
                    "device_name": "NVIDIA *H100*"},
        "results": [{"name": "ablation_cam_resnet50", "ours_s": 0.2, "baseline_s": 0.7, "ratio": 3.5, "goal": 50.0,
                     "max_abs_diff": 0.0, "details": {"input": "224x224"}}],
    }
    return {**base, **overrides}


def test_tables_carry_the_numbers_and_goals(tmp_path):
    (tmp_path / "b-gpu.json").write_text(json.dumps(run()))
    (tmp_path / "a-cpu.json").write_text(json.dumps(run(results=[
        {"name": "clip_text", "ours_s": 1.0, "baseline_s": 12.3, "ratio": 12.3, "goal": 5.0, "max_abs_diff": 1.8e-07}
    ], build={"study": "studies/offline.toml", "cold_s": 812.4, "warm_s": 2.24, "render_s": 4.7, "pages": 31})))
    runs = load_runs(tmp_path)
    assert [r["label"] for r in runs] == ["a-cpu", "b-gpu"]
    text = benchmark_markdown(runs)
    assert "| <code>clip\\_text</code> | 1.00 | 12.30 | 12.30x | 5.0x met | 1.8e-07 |" in text
    assert "| <code>ablation\\_cam\\_resnet50</code> | 0.20 | 0.70 | 3.50x | 50.0x not met | 0.0e\\+00 | input=224x224 |" in text
    assert "| Cold (nothing cached) | 812.4 |" in text and "| `xai-report render` alone | 4.7 |" in text
    assert "NVIDIA \\*H100\\*" in text  # a device name is text, not emphasis
    assert text.index("### a-cpu") < text.index("### b-gpu")


@pytest.mark.parametrize("content", ["{not json", json.dumps({"mode": "quick"}), json.dumps([1, 2])])
def test_a_broken_result_file_is_named_in_one_line(tmp_path, content):
    bad = tmp_path / "broken.json"
    bad.write_text(content)
    with pytest.raises(BadInput) as info:
        load_runs(tmp_path)
    message = str(info.value)
    assert str(bad) in message and "bench.py --json" in message and "\n" not in message


def test_readme_section_is_the_committed_results():
    """README.md shows exactly what benchmarks/results/*.json hold (python benchmarks/table.py rewrites it)."""
    assert list(table.RESULTS.glob("*.json")), "benchmarks/results/ holds no bench.py --json output"
    assert table.main(["--check"]) == 0


def test_readme_markers_are_required():
    with pytest.raises(SystemExit, match="benchmark-table"):
        table.updated_readme("# no markers here\n", "| x |")
    assert table.updated_readme(f"a\n{table.START}\nold\n{table.END}\nb\n", "new") == f"a\n{table.START}\nnew\n{table.END}\nb\n"
