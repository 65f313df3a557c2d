import pytest

from pgfa.data.split_registry import DATASET_CLASSES, NAMED_SPLITS, resolve_split


def test_named_splits_match_the_paper_tables():
    assert resolve_split("ntu60/split_1") == [4, 19, 31, 47, 51]
    assert resolve_split("ntu120/96-24")[:3] == [5, 9, 11] and len(resolve_split("ntu120/96-24")) == 24
    assert len(resolve_split("ntu60/48-12")) == 12 and len(resolve_split("ntu120/110-10")) == 10
    assert resolve_split("pku/one-shot") == [0, 5, 10, 15, 20, 25, 30, 35, 40, 45]
    assert len(resolve_split("ntu120/one-shot")) == 20


def test_every_named_split_fits_its_dataset():
    for name, unseen in NAMED_SPLITS.items():
        size = DATASET_CLASSES[name.split("/")[0]]
        assert len(set(unseen)) == len(unseen) and all(0 <= c < size for c in unseen), name
        assert len(unseen) < size - 1, name  # seen classes remain


def test_split_for_another_dataset_and_split_files(tmp_path):
    with pytest.raises(ValueError, match="is for ntu60 .* 27 classes"):
        resolve_split("ntu60/split_1", num_classes=27)
    f = tmp_path / "unseen.txt"
    f.write_text("3, 7\n11\n")
    assert resolve_split(str(f)) == [3, 7, 11]
    with pytest.raises(ValueError, match="unknown split"):
        resolve_split("ntu61/split_1")
