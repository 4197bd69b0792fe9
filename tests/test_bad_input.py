"""Bad input gives a clear one-line error or a reported skip, and the rest of the study is still built.

Every image is made here with Pillow/numpy; each test fails if its handling in ``xai_report.data`` (or the
config checks, the CLI, the weight download) is taken away.
"""

from __future__ import annotations

import email.message
import io
import json
import os
import shutil
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from click.testing import CliRunner
from PIL import Image

from xai_report import data
from xai_report.cli import main
from xai_report.config import load_study
from xai_report.data import MAX_PIXELS, list_images, load_rgb, read_concepts
from xai_report.errors import BadInput, ConfigError, WeightsUnavailable
from xai_report.models import load_model

from conftest import STUDY_IMAGES, tiny_loaded_model, write_study

GOLDFISH = STUDY_IMAGES / "n01443537_goldfish.JPEG"


def rgb(img: Image.Image) -> np.ndarray:
    return np.asarray(img, dtype=np.int16)


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and text.strip() == text and text
    return text


# ---------------------------------------------------------------------------------------------
# colour modes: converted correctly


def test_cmyk_jpeg_becomes_the_right_rgb(tmp_path):
    """Pillow writes CMYK JPEGs the way Photoshop does (Adobe marker, inverted ink); colours must survive."""
    inks = {(0, 0): (255, 0, 0, 0), (0, 1): (0, 255, 0, 0), (1, 0): (0, 0, 255, 0), (1, 1): (0, 0, 0, 0)}
    want = {(0, 0): (0, 255, 255), (0, 1): (255, 0, 255), (1, 0): (255, 255, 0), (1, 1): (255, 255, 255)}
    img = Image.new("CMYK", (64, 64))
    for (r, c), ink in inks.items():
        img.paste(ink, (c * 32, r * 32, c * 32 + 32, r * 32 + 32))
    path = tmp_path / "cmyk.jpg"
    img.save(path, quality=95)
    assert Image.open(path).mode == "CMYK"
    out = load_rgb(path)
    assert out.mode == "RGB" and out.size == (64, 64)
    for (r, c), colour in want.items():
        centre = rgb(out)[r * 32 + 16, c * 32 + 16]
        assert np.abs(centre - colour).max() <= 8, ((r, c), centre, colour)
    # 75% black ink is dark grey, not light grey (an inverted-ink bug flips it)
    Image.new("CMYK", (40, 40), (0, 0, 0, 191)).save(tmp_path / "k.jpg", quality=95)
    assert np.abs(rgb(load_rgb(tmp_path / "k.jpg")) - 64).max() <= 8


@pytest.mark.parametrize("orientation, size, top_left", [
    (6, (48, 64), "red"),    # rotate 90 clockwise to display: the stored left column becomes the top row
    (8, (48, 64), "blue"),   # rotate 90 counter-clockwise: the stored right column becomes the top row
    (3, (64, 48), "blue"),   # 180 degrees
])
def test_exif_orientation_is_applied(tmp_path, orientation, size, top_left):
    stored = np.zeros((48, 64, 3), np.uint8)
    stored[:, :32] = (255, 0, 0)
    stored[:, 32:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"photo{orientation}.jpg"
    Image.fromarray(stored).save(path, exif=exif.tobytes(), quality=95)
    out = load_rgb(path)
    assert out.size == size
    corner = rgb(out)[4, 4]
    expect = (255, 0, 0) if top_left == "red" else (0, 0, 255)
    assert np.abs(corner - expect).max() <= 10, corner


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_grayscale_keeps_its_relative_brightness(tmp_path, suffix):
    ramp = np.tile(np.linspace(0, 65535, 256).round().astype(np.uint16), (40, 1))
    path = tmp_path / f"ramp16{suffix}"
    Image.fromarray(ramp).save(path)
    assert Image.open(path).mode.startswith("I;16")
    out = rgb(load_rgb(path))
    assert out.shape == (40, 256, 3)
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])
    want = np.round(ramp / 65535 * 255)
    assert np.abs(out[..., 0] - want).max() <= 1  # mid-grey stays mid-grey, no clipping at 255
    # a dark 16-bit image stays dark: its scale is the file's bit depth, not its own maximum
    dark = (ramp // 16).astype(np.uint16)  # at most 4095, i.e. 1/16 of full scale
    Image.fromarray(dark).save(tmp_path / f"dark16{suffix}")
    assert rgb(load_rgb(tmp_path / f"dark16{suffix}")).max() <= 17


def test_float_image_in_unit_range(tmp_path):
    ramp = np.tile(np.linspace(0, 1, 64, dtype=np.float32), (40, 1))
    path = tmp_path / "float.tif"
    Image.fromarray(ramp).save(path)
    assert Image.open(path).mode == "F"
    out = rgb(load_rgb(path))[..., 0]
    assert np.abs(out - np.round(ramp * 255)).max() <= 1


def test_rgba_is_composited_on_white(tmp_path):
    arr = np.zeros((40, 60, 4), np.uint8)
    arr[:, :20] = (255, 0, 0, 255)    # opaque red
    arr[:, 20:40] = (255, 0, 0, 128)  # half-transparent red -> pink
    arr[:, 40:] = (0, 0, 0, 0)        # fully transparent black -> white
    for suffix in (".png", ".webp"):
        path = tmp_path / f"rgba{suffix}"
        Image.fromarray(arr, "RGBA").save(path, lossless=True)
        out = rgb(load_rgb(path))
        assert np.abs(out[20, 10] - (255, 0, 0)).max() <= 2
        assert np.abs(out[20, 30] - (255, 127, 127)).max() <= 3
        assert np.abs(out[20, 50] - (255, 255, 255)).max() <= 2


def test_grayscale_with_alpha_and_palette_with_transparency(tmp_path):
    la = np.zeros((40, 40, 2), np.uint8)
    la[..., 0] = 0
    la[:, 20:, 1] = 255  # left half transparent black, right half opaque black
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    out = rgb(load_rgb(tmp_path / "la.png"))
    assert out[5, 5].tolist() == [255, 255, 255] and out[5, 30].tolist() == [0, 0, 0]

    pal = Image.new("P", (40, 40), 0)
    pal.putpalette([0, 0, 0, 0, 200, 0] + [0] * 762)
    pal.paste(1, (20, 0, 40, 40))
    pal.save(tmp_path / "pal.png", transparency=0)
    pal.save(tmp_path / "pal.gif", transparency=0)
    for name in ("pal.png", "pal.gif"):
        out = rgb(load_rgb(tmp_path / name))
        assert out[5, 5].tolist() == [255, 255, 255], name  # the transparent index
        assert out[5, 30].tolist() == [0, 200, 0], name     # palette colour, not its index


def test_transparent_colour_key_is_white(tmp_path):
    """PNG's tRNS colour key (no alpha channel) on grayscale, RGB and 16-bit images."""
    gray = np.full((40, 40), 10, np.uint8)
    gray[:, 20:] = 100
    Image.fromarray(gray).save(tmp_path / "gray_key.png", transparency=10)
    out = rgb(load_rgb(tmp_path / "gray_key.png"))
    assert out[5, 5].tolist() == [255] * 3 and out[5, 30].tolist() == [100] * 3

    colour = np.zeros((40, 40, 3), np.uint8)
    colour[:, :20] = (1, 2, 3)
    colour[:, 20:] = (0, 0, 250)
    Image.fromarray(colour).save(tmp_path / "rgb_key.png", transparency=(1, 2, 3))
    out = rgb(load_rgb(tmp_path / "rgb_key.png"))
    assert out[5, 5].tolist() == [255] * 3 and out[5, 30].tolist() == [0, 0, 250]

    deep = np.full((40, 40), 1000, np.uint16)
    deep[:, 20:] = 32768
    Image.fromarray(deep).save(tmp_path / "deep_key.png", transparency=1000)
    out = rgb(load_rgb(tmp_path / "deep_key.png"))
    assert out[5, 5].tolist() == [255] * 3 and abs(int(out[5, 30, 0]) - 128) <= 1


def test_grayscale_and_bilevel_become_three_equal_channels(tmp_path):
    gray = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (40, 1))
    Image.fromarray(gray).save(tmp_path / "gray.png")
    out = rgb(load_rgb(tmp_path / "gray.png"))
    assert out.shape == (40, 64, 3) and all(np.array_equal(out[..., i], gray) for i in range(3))
    Image.fromarray(gray > 127).save(tmp_path / "bits.png")
    out = rgb(load_rgb(tmp_path / "bits.png"))
    assert set(np.unique(out)) == {0, 255} and np.array_equal(out[..., 0] == 255, gray > 127)


# ---------------------------------------------------------------------------------------------
# unusable files: BadInput with a one-line reason


def _truncated(data: bytes, fraction: float) -> bytes:
    return data[: int(len(data) * fraction)]


def _png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


BROKEN = {
    "empty.jpg": lambda: b"",
    "text.jpg": lambda: b"this is not a picture\n",
    "page.png": lambda: b"<html><body>404 not found</body></html>",
    "half.jpg": lambda: _truncated(GOLDFISH.read_bytes(), 0.5),
    "header-only.jpg": lambda: _truncated(GOLDFISH.read_bytes(), 0.02),
    "half.png": lambda: _truncated(_png_bytes(Image.open(GOLDFISH)), 0.5),
    "crc.png": lambda: (lambda b: b[: len(b) // 2] + b"\x00" * 64 + b[len(b) // 2 + 64:])(_png_bytes(Image.open(GOLDFISH))),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_files_are_refused_in_one_line(tmp_path, name):
    folder = tmp_path / "some" / "private" / "folder"
    folder.mkdir(parents=True)
    path = folder / name
    path.write_bytes(BROKEN[name]())
    with pytest.raises(BadInput) as err:
        load_rgb(path)
    msg = one_line(err.value)
    assert msg.startswith(f"{name}: not a readable image (")
    assert "private" not in msg  # the reason names the file, it does not leak the folder it lives in


def test_any_decoder_failure_is_a_skip_not_a_crash(tmp_path, monkeypatch):
    """Malformed files can make Pillow's plugins raise struct.error, IndexError, zlib.error, ..."""
    Image.new("RGB", (40, 40)).save(tmp_path / "odd.png")

    def explode(img):
        raise struct.error("unpack requires a buffer of 4 bytes")

    monkeypatch.setattr(data.ImageOps, "exif_transpose", explode)
    with pytest.raises(BadInput, match=r"^odd.png: not a readable image \(unpack requires a buffer of 4 bytes\)$"):
        load_rgb(tmp_path / "odd.png")


def test_tiny_images_are_refused(tmp_path):
    Image.new("RGB", (31, 200)).save(tmp_path / "thin.png")
    with pytest.raises(BadInput, match=r"^thin.png: 31x200 is too small \(under 32 px\)$"):
        load_rgb(tmp_path / "thin.png")
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (200, 31)).save(tmp_path / "turned.jpg", exif=exif.tobytes())
    with pytest.raises(BadInput, match=r"^turned.jpg: 31x200 is too small"):  # the size as displayed
        load_rgb(tmp_path / "turned.jpg")
    Image.new("RGB", (32, 32)).save(tmp_path / "ok.png")
    assert load_rgb(tmp_path / "ok.png").size == (32, 32)
    Image.new("RGB", (1, 1)).save(tmp_path / "dot.gif")
    with pytest.raises(BadInput, match="1x1 is too small"):
        load_rgb(tmp_path / "dot.gif")


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _bomb_png(width: int, height: int) -> bytes:
    """A valid 8-bit grayscale PNG of zeros: a few kB on disk, width*height bytes once decoded."""
    comp = zlib.compressobj(9)
    row = b"\x00" * (width + 1)
    idat = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def test_decompression_bombs_are_refused_before_decoding(tmp_path):
    width, height = 9000, 7200  # 64.8 M pixels: over the limit, under Pillow's own warning
    assert width * height > MAX_PIXELS
    path = tmp_path / "bomb.png"
    path.write_bytes(_bomb_png(width, height))
    assert path.stat().st_size < 200_000
    start = time.perf_counter()
    with pytest.raises(BadInput, match=r"^bomb.png: 9000x7200 is too large \(over 64,000,000 pixels\)$"):
        load_rgb(path)
    assert time.perf_counter() - start < 2.0  # refused from the header, never decoded
    # a header claiming 40000x40000 trips Pillow's own bomb check (an error, not just a warning)
    huge = tmp_path / "huge.png"
    header = _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 40000, 40000, 8, 0, 0, 0, 0))
    huge.write_bytes(b"\x89PNG\r\n\x1a\n" + header + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 100)) + _png_chunk(b"IEND", b""))
    with pytest.raises(BadInput) as err:
        load_rgb(huge)
    assert "huge.png" in one_line(err.value) and ("too large" in str(err.value) or "bomb" in str(err.value))


def test_non_utf8_file_name_gives_printable_reason(tmp_path):
    raw = os.fsencode(tmp_path) + b"/caf\xe9.jpg"
    with open(raw, "wb") as fh:
        fh.write(b"not an image")
    (path,) = list_images(tmp_path)
    with pytest.raises(BadInput) as err:
        load_rgb(path)
    msg = one_line(err.value)
    msg.encode("utf-8")  # no lone surrogates: it can be printed and written to a page
    assert msg.startswith("caf\ufffd.jpg: not a readable image")


# ---------------------------------------------------------------------------------------------
# a whole build with bad inputs: the good ones are built, each bad one is reported once


@pytest.fixture
def mixed_folder(tmp_path) -> Path:
    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(GOLDFISH, folder / "n01443537_goldfish.JPEG")
    Image.new("CMYK", (64, 64), (0, 255, 255, 0)).save(folder / "cmyk.jpg")
    Image.fromarray(np.full((48, 48), 30000, np.uint16)).save(folder / "deep.png")
    Image.new("RGBA", (48, 48), (0, 0, 0, 0)).save(folder / "clear.png")
    shutil.copy(GOLDFISH, folder / "a b.jpg")
    shutil.copy(GOLDFISH, folder / "a-b.png")  # same page name as "a b.jpg"
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "half.jpg").write_bytes(_truncated(GOLDFISH.read_bytes(), 0.4))
    (folder / "notes.jpg").write_text("not a picture")
    Image.new("RGB", (20, 20)).save(folder / "tiny.png")
    (folder / "bomb.png").write_bytes(_bomb_png(9000, 7200))
    (folder / "readme.txt").write_text("not listed: not an image suffix")
    return folder


BUILT = {"n01443537_goldfish.JPEG", "cmyk.jpg", "deep.png", "clear.png", "a b.jpg"}
SKIPPED = {
    "a-b.png": "its page name 'a-b' is taken by a b.jpg",
    "empty.jpg": "not a readable image",
    "half.jpg": "not a readable image (image file is truncated",
    "notes.jpg": "not a readable image",
    "tiny.png": "20x20 is too small",
    "bomb.png": "9000x7200 is too large",
}


def test_build_skips_bad_images_reports_them_and_builds_the_rest(tmp_path, mixed_folder, monkeypatch):
    import xai_report.stage as stage_mod

    monkeypatch.setattr(stage_mod, "load_model", lambda spec, offline: tiny_loaded_model())
    study = write_study(tmp_path, mixed_folder, methods=("gradcam",), layer="features")
    result = CliRunner().invoke(main, ["build", "--study", str(study)])
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    section = results["attribution"]
    assert {r["file"] for r in section["images"]} == BUILT
    reasons = {s["file"]: s["reason"] for s in section["skipped"]}
    assert set(reasons) == set(SKIPPED)
    for name, fragment in SKIPPED.items():
        assert fragment in reasons[name] and "\n" not in reasons[name], (name, reasons[name])

    # listed at the end of the build output, one line each, after the summary line
    lines = result.output.strip().splitlines()
    summary = next(i for i, line in enumerate(lines) if line.startswith("build: "))
    assert "skipped 6 inputs" in lines[summary]
    tail = lines[summary + 1:]
    assert len(tail) == len(SKIPPED) and all(line.startswith("skipped ") for line in tail)
    for name in SKIPPED:
        assert sum(line.startswith(f"skipped {name}: ") for line in tail) == 1, (name, tail)

    # and on the methodology page
    methodology = (tmp_path / "site_src" / "methodology" / "index.md").read_text()
    section_text = methodology.split("### Skipped inputs", 1)[1]
    for name in SKIPPED:
        assert f"<code>{name}</code>" in section_text
    assert "9000x7200 is too large" in section_text

    # converted ones: the RGBA one was fully transparent -> a white photo; CMYK red -> red
    out = tmp_path / "out"
    by_file = {r["file"]: r for r in section["images"]}
    clear = np.asarray(Image.open(out / by_file["clear.png"]["photo"]), dtype=np.int16)
    assert clear.min() >= 245
    cmyk = np.asarray(Image.open(out / by_file["cmyk.jpg"]["photo"]), dtype=np.int16)
    assert np.abs(cmyk.mean(axis=(0, 1)) - (255, 0, 0)).max() <= 12


def test_non_utf8_file_name_builds_and_renders(tmp_path, image_folder, monkeypatch):
    import xai_report.stage as stage_mod

    monkeypatch.setattr(stage_mod, "load_model", lambda spec, offline: tiny_loaded_model())
    with open(os.fsencode(image_folder) + b"/caf\xe9 photo.jpg", "wb") as fh:
        fh.write(GOLDFISH.read_bytes())
    with open(os.fsencode(image_folder) + b"/bad\xff.jpg", "wb") as fh:
        fh.write(b"")
    study = write_study(tmp_path, image_folder, methods=("gradcam",), layer="features")
    result = CliRunner().invoke(main, ["build", "--study", str(study)])
    assert result.exit_code == 0, (result.output, result.exception)
    assert "skipped bad\ufffd.jpg: not a readable image" in result.output
    pages = list((tmp_path / "site_src").rglob("*.md"))
    text = "".join(p.read_text(encoding="utf-8") for p in pages)  # every page is valid UTF-8
    assert "caf\ufffd photo" in text and "bad\ufffd.jpg" in text


# ---------------------------------------------------------------------------------------------
# study config: one line naming the key and what is allowed, before any compute


def _cli(args):
    result = CliRunner().invoke(main, args)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"traceback instead of a one-line error: {result.exception!r}")
    return result


def _assert_one_line_error(result, *fragments):
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def test_unknown_layer_via_cli_is_one_line_before_any_compute(tmp_path, image_folder):
    study = write_study(tmp_path, image_folder, methods=("gradcam",), layer="bn9")
    result = _cli(["build", "--study", str(study)])
    _assert_one_line_error(result, "attribution.layer", "'bn9'", "bn2", "conv_head", "blocks")
    assert not (tmp_path / "out" / "store" / "objects").exists()
    assert not (tmp_path / "out" / "results.json").exists()
    study = write_study(tmp_path, image_folder, methods=("gradcam",), layer="blocks[x]")
    _assert_one_line_error(_cli(["build", "--study", str(study)]), "attribution.layer", "blocks[x]", "layer4[-1]")


def test_class_index_out_of_range_via_cli(tmp_path, image_folder):
    study = write_study(tmp_path, image_folder, methods=("gradcam",), extra="target = 1000")
    _assert_one_line_error(_cli(["build", "--study", str(study)]), "attribution.target", "1000", "0-999")
    assert not (tmp_path / "out" / "store" / "objects").exists()


@pytest.mark.parametrize("model, fragments", [
    ('[models.m]\nsource = "local"\nfile = "w.pth"\n', ["models.m.arch", "required", "resnet18"]),
    ('[models.m]\nsource = "local"\narch = "resnet999"\nfile = "w.pth"\n', ["models.m.arch", "'resnet999'", "resnet50"]),
    ('[models.m]\nsource = "places365"\narch = "resnet999"\n', ["models.m.arch", "'resnet999'"]),
    ('[models.m]\nsource = "torchvision"\nname = "resnet51"\n', ["models.m.name", "'resnet51'", "resnet50"]),
    ('[models.m]\nsource = "torchvision"\nname = "resnet18"\nweights = "V9"\n', ["models.m.weights", "'V9'", "IMAGENET1K_V1"]),
    ('[models.m]\nsource = "packaged"\nname = "efficientnet_b7"\n', ["models.m.name", "efficientnet_lite0"]),
    ('[models.m]\nsource = "hub"\n', ["models.m.source", "'hub'", "torchvision, places365, local, packaged"]),
    ('[models.m]\nsource = "packaged"\npreprocess = {crop = -1}\n', ["models.m.preprocess.crop", "-1", "0 for no crop"]),
    ('[models.m]\nsource = "packaged"\npreprocess = {size = 1}\n', ["unknown key models.m.preprocess.size", "resize"]),
])
@pytest.mark.parametrize("command", ["check", "build"])
def test_unknown_models_are_one_line_in_check_and_build(tmp_path, image_folder, model, fragments, command):
    (tmp_path / "w.pth").write_bytes(b"")
    study = write_study(tmp_path, image_folder, methods=("gradcam",), model=model)
    _assert_one_line_error(_cli([command, "--study", str(study)]), "study.toml: ", *fragments)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("edit, fragments", [
    (("[attribution.lime]\n", "[attribution.lime]\nsamples = 5\n"), ["unknown key attribution.lime.samples", "allowed: num_samples"]),
    (("num_samples = 60", "num_samples = 1.5"), ["attribution.lime.num_samples: expected int, found float"]),
    (('methods = ["gradcam"]', 'methods = "gradcam"'), ["attribution.methods: expected list of str, found str"]),
    (("seed = 0", 'seed = "zero"'), ["seed: expected int, found str"]),
    ((None, '[dissection]\nenabled = true\nmodels = ["m"]\nprobe = []\nconcepts = "none.txt"\n'),
     ["dissection.concepts: file", "none.txt does not exist"]),
    (('model = "m"', 'model = "resnet"'), ["attribution.model: 'resnet' is not defined; defined models: m"]),
    (('device = "cpu"', 'device = "gpu"'), ["device: 'gpu' is not allowed; use auto, cpu or cuda[:N]"]),
])
def test_config_mistakes_are_one_line_via_cli(tmp_path, image_folder, edit, fragments):
    study = write_study(tmp_path, image_folder, methods=("gradcam",))
    text = study.read_text()
    if edit[0] is None:
        study.write_text(text + edit[1])
    else:
        assert edit[0] in text
        study.write_text(text.replace(edit[0], edit[1], 1))
    for command in ("check", "build"):
        _assert_one_line_error(_cli([command, "--study", str(study)]), *fragments)
    assert not (tmp_path / "out").exists()


def test_missing_study_file_and_missing_image_folder_via_cli(tmp_path):
    _assert_one_line_error(_cli(["build", "--study", str(tmp_path / "nope.toml")]), "study file not found")
    study = write_study(tmp_path, tmp_path / "no-such-folder", methods=("gradcam",))
    _assert_one_line_error(_cli(["build", "--study", str(study)]), "attribution.images: folder", "no-such-folder does not exist")


# ---------------------------------------------------------------------------------------------
# concept lists


def test_concepts_blank_lines_duplicates_bom_crlf(tmp_path):
    path = tmp_path / "c.txt"
    path.write_bytes("\ufeffdog\r\n\r\n  cat  \r\ndog\r\n\t\r\nsky\rtree\r\n".encode("utf-8"))
    assert read_concepts(path) == ["dog", "cat", "sky", "tree"]


def test_concepts_non_ascii_words_are_kept_and_compared_in_nfc(tmp_path):
    path = tmp_path / "c.txt"
    words = ["café", "cafe\u0301", "Straße", "日本庭園", "🐟 fish", "naïve  art", "<script>", "a|b"]
    path.write_text("\n".join(words) + "\n", encoding="utf-8")
    assert read_concepts(path) == ["café", "Straße", "日本庭園", "🐟 fish", "naïve art", "<script>", "a|b"]


def test_concepts_utf16_with_bom_and_bad_encodings(tmp_path):
    path = tmp_path / "c16.txt"
    path.write_bytes("dog\r\ncafé\r\n".encode("utf-16"))  # Windows Notepad's "Unicode"
    assert read_concepts(path) == ["dog", "café"]
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("café\n".encode("latin-1"))
    with pytest.raises(BadInput, match="latin1.txt: concept list is not UTF-8 text; save it as UTF-8$"):
        read_concepts(latin1)
    blank = tmp_path / "blank.txt"
    blank.write_bytes(b"\xef\xbb\xbf\r\n \r\n\n")
    with pytest.raises(BadInput, match="concept list is empty"):
        read_concepts(blank)
    with pytest.raises(BadInput, match="concept list not found"):
        read_concepts(tmp_path / "missing.txt")
    with pytest.raises(BadInput, match="is a folder, not a concept list"):
        read_concepts(tmp_path)


# ---------------------------------------------------------------------------------------------
# weights


def test_offline_missing_weights_via_cli_is_one_line(tmp_path, image_folder, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    model = '[models.m]\nsource = "torchvision"\nname = "resnet18"\nweights = "IMAGENET1K_V1"\n'
    study = write_study(tmp_path, image_folder, methods=("gradcam",), model=model)
    _assert_one_line_error(_cli(["build", "--study", str(study)]), "resnet18-f37072fd.pth is missing",
                           "https://download.pytorch.org/models/resnet18-f37072fd.pth", str(tmp_path / "torch"))
    assert not (tmp_path / "out" / "store" / "objects").exists()


def _small_checkpoint(arch: str, num_classes: int) -> bytes:
    torch.manual_seed(0)
    buf = io.BytesIO()
    torch.save(torchvision.models.get_model(arch, num_classes=num_classes).state_dict(), buf)
    return buf.getvalue()


class _Response(io.BytesIO):
    """What urlopen returns: a body and a Content-Length header (which may promise more than is sent)."""

    def __init__(self, body: bytes, length: int):
        super().__init__(body)
        self._headers = email.message.Message()
        self._headers["Content-Length"] = str(length)

    def info(self):
        return self._headers


def _serve(monkeypatch, body: bytes, length: int | None = None) -> list[str]:
    """Make torch.hub's real download code read ``body`` from a fake server; returns the URLs asked for."""
    asked = []

    def fake_urlopen(request, *args, **kwargs):
        asked.append(request.full_url)
        return _Response(body, len(body) if length is None else length)

    monkeypatch.setattr(torch.hub, "urlopen", fake_urlopen)
    return asked


@pytest.mark.parametrize("spec", [
    {"source": "places365", "arch": "resnet18"},                                     # no hash in the file name
    {"source": "torchvision", "name": "resnet18", "weights": "IMAGENET1K_V1"},        # resnet18-f37072fd.pth
])
def test_download_cut_off_halfway_leaves_no_file(tmp_path, monkeypatch, spec):
    """The server closes the connection early: urllib then returns fewer bytes without raising."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    full = _small_checkpoint("resnet18", 365 if spec["source"] == "places365" else 1000)
    asked = _serve(monkeypatch, full[: len(full) // 2], length=len(full))
    with pytest.raises(WeightsUnavailable) as err:
        load_model(spec, offline=False)
    assert len(asked) == 1 and "the download failed" in one_line(err.value)
    folder = tmp_path / "hub" / "checkpoints"
    assert list(folder.iterdir()) == [], "a partial weight file was left in the cache"


def test_download_of_the_wrong_file_is_refused_by_its_hash(tmp_path, monkeypatch):
    """torchvision names its files with their SHA-256 prefix: a complete but different file is not kept."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    _serve(monkeypatch, _small_checkpoint("resnet18", 1000))  # loads fine, but is not resnet18-f37072fd.pth
    with pytest.raises(WeightsUnavailable, match="resnet18-f37072fd.pth"):
        load_model({"source": "torchvision", "name": "resnet18", "weights": "IMAGENET1K_V1"}, offline=False)
    assert list((tmp_path / "hub" / "checkpoints").iterdir()) == []


def test_interrupted_download_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def interrupted(url, dst, *args, **kwargs):
        with open(dst, "wb") as fh:
            fh.write(b"PK\x03\x04 half")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch.hub, "download_url_to_file", interrupted)
    with pytest.raises(KeyboardInterrupt):
        load_model({"source": "places365", "arch": "resnet18"}, offline=False)
    assert list((tmp_path / "hub" / "checkpoints").iterdir()) == []


def test_checkpoint_of_the_wrong_architecture_is_one_line(tmp_path):
    path = tmp_path / "resnet18_places365.pth.tar"
    path.write_bytes(_small_checkpoint("resnet18", 10))  # 10 classes, Places365 has 365
    with pytest.raises(BadInput) as err:
        load_model({"source": "places365", "arch": "resnet18", "file": str(path)}, offline=True)
    msg = one_line(err.value)
    assert "resnet18_places365.pth.tar: checkpoint does not fit the architecture" in msg and "fc.weight" in msg
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"<html>captive portal</html>")
    with pytest.raises(BadInput, match="garbage.pth: not a loadable PyTorch checkpoint"):
        load_model({"source": "places365", "arch": "resnet18", "file": str(garbage)}, offline=True)
