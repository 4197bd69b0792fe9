"""CLIP concept/image features with randomly initialised open_clip models (offline, no weights)."""

import warnings

import open_clip
import pytest
import torch
from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg, CustomTextCLIP
from PIL import Image

from xai_report.data import read_concepts
from xai_report.dissect import clip_text
from xai_report.dissect.clip_text import causal_text_tower, encode_concepts, encode_images

CONCEPTS = [
    "dog",
    "traffic light",
    "red",
    "a very long concept phrase describing a striped woollen fabric on a chair",
    "café",
    "zebra",
    " ".join(["word"] * 90),  # longer than the 77-token context: the tokenizer cuts it, EOT at 76
    "sky",
    "x",
    "snow-covered mountain",
]


def tiny_clip(seed=0, cls=CLIP, **text_kw):
    torch.manual_seed(seed)
    text_cfg = CLIPTextCfg(context_length=77, vocab_size=49408, width=64, heads=4, layers=2, **text_kw)
    vision_cfg = CLIPVisionCfg(layers=1, width=32, head_width=16, patch_size=16, image_size=32)
    return cls(embed_dim=32, vision_cfg=vision_cfg, text_cfg=text_cfg).eval()


@pytest.fixture(scope="module")
def tokenizer():
    return open_clip.get_tokenizer("ViT-B-16")  # the bundled BPE vocabulary: works offline


def full_context(model, tokenizer, concepts):
    with torch.no_grad():
        return model.encode_text(tokenizer(concepts)).float()


def assert_same_features(got, want):
    assert got.shape == want.shape
    cos = torch.nn.functional.cosine_similarity(got, want, dim=-1)
    assert cos.min().item() >= 0.9999, cos
    torch.testing.assert_close(got.norm(dim=-1), want.norm(dim=-1), rtol=1e-4, atol=1e-5)


def context_lengths(model):
    """Record the sequence length every text-transformer call sees."""
    seen = []
    model.transformer.register_forward_pre_hook(lambda _m, args: seen.append(args[0].shape[1]))
    return seen


def test_truncated_equals_full_context_tiny(tokenizer):
    model = tiny_clip()
    seen = context_lengths(model)
    got = encode_concepts(model, tokenizer, CONCEPTS, batch_size=3)
    batch_lengths = seen[2:]  # the first two calls are the run-time check (truncated, then full)
    assert_same_features(got, full_context(model, tokenizer, CONCEPTS))
    # Each batch of 3 (shortest concepts first) ran on the length of its longest member, not on 77.
    lengths = sorted((tokenizer(CONCEPTS) != 0).sum(dim=1).tolist())
    assert batch_lengths == [max(lengths[i:i + 3]) for i in range(0, len(lengths), 3)]
    assert batch_lengths[0] == 3  # SOT, one word, EOT


def test_truncated_equals_full_context_vit_b16(tokenizer):
    torch.manual_seed(0)
    model = open_clip.create_model("ViT-B-16", pretrained=None).eval()
    words = ["dog", "traffic light", "stained glass", "a photo of many colourful umbrellas", "grass"]
    got = encode_concepts(model, tokenizer, words, batch_size=2)
    assert_same_features(got, full_context(model, tokenizer, words))


def test_order_and_batching_do_not_change_features(tokenizer):
    model = tiny_clip(seed=1)
    a = encode_concepts(model, tokenizer, CONCEPTS, batch_size=4)
    b = encode_concepts(model, tokenizer, CONCEPTS[::-1], batch_size=1)
    torch.testing.assert_close(a, b.flip(0), rtol=1e-5, atol=1e-5)
    # Different words give different features (guards against rows being mixed up or copied).
    assert not torch.allclose(a[0], a[1])


def test_not_truncated_path_and_normalisation(tokenizer):
    model = tiny_clip(seed=2)
    full = encode_concepts(model, tokenizer, CONCEPTS, truncate=False, normalize=True)
    torch.testing.assert_close(full.norm(dim=-1), torch.ones(len(CONCEPTS)))
    want = torch.nn.functional.normalize(full_context(model, tokenizer, CONCEPTS), dim=-1)
    torch.testing.assert_close(full, want, rtol=1e-5, atol=1e-5)


def test_custom_text_clip_tower_is_truncated(tokenizer):
    model = tiny_clip(seed=3, cls=CustomTextCLIP)
    assert causal_text_tower(model) is not None
    got = encode_concepts(model, tokenizer, CONCEPTS)
    assert_same_features(got, full_context(model, tokenizer, CONCEPTS))


def test_bidirectional_tower_falls_back_to_full_context(tokenizer):
    # Without a causal mask the padding is visible to the EOT token, so truncating would change features.
    model = tiny_clip(seed=4, cls=CustomTextCLIP, no_causal_mask=True)
    assert causal_text_tower(model) is None
    with pytest.warns(UserWarning, match="full context"):
        got = encode_concepts(model, tokenizer, CONCEPTS[:4])
    torch.testing.assert_close(got, full_context(model, tokenizer, CONCEPTS[:4]), rtol=1e-5, atol=1e-5)


def test_runtime_check_catches_a_wrong_truncation(tokenizer, monkeypatch):
    model = tiny_clip(seed=5)
    real = clip_text.encode_tokens_truncated
    monkeypatch.setattr(clip_text, "encode_tokens_truncated", lambda tower, tok: real(tower, tok) + 1.0)
    with pytest.warns(UserWarning, match="differ"):
        got = encode_concepts(model, tokenizer, CONCEPTS)
    torch.testing.assert_close(got, full_context(model, tokenizer, CONCEPTS), rtol=1e-5, atol=1e-5)


def test_concept_file_with_duplicates_and_blank_lines(tokenizer, tmp_path):
    path = tmp_path / "concepts.txt"
    path.write_bytes("\ufeffdog\r\n\r\ncat\n  \ndog\nsky \n\n".encode("utf-8"))
    concepts = read_concepts(path)
    assert concepts == ["dog", "cat", "sky"]
    model = tiny_clip(seed=6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback warning on the normal path
        feats = encode_concepts(model, tokenizer, concepts)
    assert feats.shape == (3, 32)
    assert_same_features(feats, full_context(model, tokenizer, ["dog", "cat", "sky"]))


def test_blank_or_no_concepts_are_refused(tokenizer):
    model = tiny_clip()
    with pytest.raises(ValueError, match="blank"):
        encode_concepts(model, tokenizer, ["dog", "  "])
    with pytest.raises(ValueError):
        encode_concepts(model, tokenizer, [])


def test_encode_images_from_pil_and_paths(tmp_path):
    model = tiny_clip(seed=7)
    preprocess = open_clip.image_transform(32, is_train=False)
    g = torch.Generator().manual_seed(0)
    images = [Image.fromarray((torch.rand(40, 48, 3, generator=g) * 255).byte().numpy()) for _ in range(3)]
    path = tmp_path / "img.png"
    images[2].save(path)
    got = encode_images(model, preprocess, [images[0], images[1], path], batch_size=2)
    with torch.no_grad():
        want = model.encode_image(torch.stack([preprocess(im) for im in images]))
    assert got.shape == (3, 32) and got.dtype == torch.float32
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    normed = encode_images(model, preprocess, images, normalize=True)
    torch.testing.assert_close(normed.norm(dim=-1), torch.ones(3))
