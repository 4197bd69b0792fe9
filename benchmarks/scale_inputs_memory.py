"""Memory the attribution stage's inputs hold as the image count grows: RSS growth after load_inputs on the
1,300 photos of data/probe/imagenet-val and touching every image's prepared tensor (python benchmarks/scale_inputs_memory.py new).
"old" runs the eager version from /tmp/oldinputs/inputs_old.py (git show e44ab83:generator/xai_report/attribution/inputs.py).
Measured 2026-12-06, 2 shared cores: old +2,078 MB (1.6 MB per image, every decoded image kept); new +28 MB."""
import sys, os, importlib.util, resource
from pathlib import Path
which = sys.argv[1]
import xai_report.attribution.inputs as new
from xai_report.models import load_model  # noqa
from xai_report.models.preprocess import Preprocess
pp = Preprocess(resize=256, crop=224, mean=(0.485,0.456,0.406), std=(0.229,0.224,0.225))
if which == "old":
    src = open('/tmp/oldinputs/inputs_old.py').read().replace("from ..", "from xai_report.")
    mod = type(sys)("old_inputs"); sys.modules["old_inputs"] = mod; exec(compile(src, "old_inputs", "exec"), mod.__dict__); load = mod.load_inputs
else:
    load = new.load_inputs
def rss(): return int(open('/proc/self/statm').read().split()[1]) * 4096 / 2**20
base = rss()
items, skipped = load(Path('data/probe/imagenet-val'), pp)
n = len(items)
for it in items[:n]:
    _ = it.prepared.tensor.sum()
print(which, n, "images: RSS grew", round(rss() - base), "MB; per image", round((rss() - base) / n * 1024), "KB")
