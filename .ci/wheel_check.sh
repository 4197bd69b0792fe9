#!/usr/bin/env bash
# The package as a user installs it: build the wheel, install it (not editable) in a fresh virtual environment, and
# in a folder outside the checkout run init, check, build and render on a small study (a tiny timm model with random
# weights, two photos), then `mkdocs build --strict` on the mkdocs.yml it wrote. Any failure fails the script.
# Usage: .ci/wheel_check.sh [PYTHON]   (PYTHON builds the wheel and makes the venv; default: python3)
# WHEEL_CHECK_REUSE=DIR: the venv also sees the packages of the site-packages folder DIR (a path line in a .pth file:
# DIR's own .pth files, an editable install's among them, are not run), so torch is not unpacked again; the wheel
# itself still goes into the venv, non-editable, and pip still installs every requirement DIR lacks (the import check
# below fails on a checkout's copy).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
python="${1:-python3}"
work="$(mktemp -d "${TMPDIR:-/tmp}/xai-wheel.XXXXXX")"
trap 'rm -rf "$work"' EXIT
seconds() { echo "wheel check: $1 in $(( $(date +%s) - $2 )) s"; }

start=$(date +%s)
"$python" -m build --wheel --outdir "$work/dist" "$repo" >"$work/build.log" 2>&1 || { tail -20 "$work/build.log"; exit 1; }
seconds "built $(basename "$work"/dist/*.whl)" "$start"

start=$(date +%s)
"$python" -m venv "$work/venv"
if [ -n "${WHEEL_CHECK_REUSE:-}" ]; then
  "$work/venv/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])" | {
    read -r purelib; echo "$WHEEL_CHECK_REUSE" > "$purelib/zz_wheel_check_reuse.pth"; }
fi
"$work/venv/bin/python" -m pip install --quiet --force-reinstall --no-deps "$work"/dist/*.whl >"$work/pip0.log" 2>&1 \
  || { tail -20 "$work/pip0.log"; exit 1; }  # into the venv, even where the base has an (editable) xai-report
"$work/venv/bin/python" -m pip install --quiet "$work"/dist/*.whl >"$work/pip.log" 2>&1 || { tail -20 "$work/pip.log"; exit 1; }
seconds "installed the wheel and its dependencies in a fresh venv${WHEEL_CHECK_REUSE:+ (packages of $WHEEL_CHECK_REUSE seen)}" "$start"

# Outside the checkout: the venv's own commands only, nothing of the repository on the path.
mkdir "$work/project"
cd "$work/project"
export PATH="$work/venv/bin:$PATH"
unset PYTHONPATH
python - <<'PY'
import xai_report, pathlib
where = pathlib.Path(xai_report.__file__).resolve()
assert "site-packages" in where.parts, f"xai_report imported from {where}, not from the wheel"
PY
xai-report --help | head -1 | grep -q "^Usage: xai-report " || { echo "--help does not start with 'Usage: xai-report'"; exit 1; }
xai-report --version | grep -qx "xai-report [0-9][0-9.]*" || { echo "--version: $(xai-report --version)"; exit 1; }

mkdir -p weights my_photos
cp "$repo"/data/images/n01443537_goldfish.JPEG "$repo"/data/images/n07747607_orange.JPEG my_photos/
python -c "import timm, torch; torch.manual_seed(0); \
torch.save(timm.create_model('test_resnet', pretrained=False).state_dict(), 'weights/test_resnet.pth')"

start=$(date +%s)
xai-report init --source timm --name test_resnet --file weights/test_resnet.pth --images my_photos --title "Wheel check"
sed -i 's/^num_samples = 1000/num_samples = 100/' study.toml  # a small study: LIME with 100 samples
xai-report check --study study.toml
seconds "init + check" "$start"

start=$(date +%s)
xai-report build --study study.toml
seconds "build" "$start"

start=$(date +%s)
xai-report render --study study.toml
seconds "render" "$start"

start=$(date +%s)
mkdocs build --strict -q -f mkdocs.yml
seconds "mkdocs build --strict" "$start"
test -f site/index.html && test -f site/stylesheets/extra.css && test -f site/javascripts/xai-report.js
grep -rlq "glightbox" site/attribution/ || { echo "no lightbox links in the built pages"; exit 1; }
python -c "import xai_report as xr; r = xr.load_results('output/results.json'); \
assert len(r.attribution.images) == 2, r.attribution.images; print('load_results:', type(r).__name__, len(r.attribution.images), 'images')"
echo "wheel check: ok"
