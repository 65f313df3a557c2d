"""Built-in class texts: exact label maps and well-formed, distinct descriptions.

The row order *is* the label map, so these tests pin counts, a few official
names, and for the converted real sets the exact match with their classes.txt.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from pgfa.text.builtin import BUILTIN_DATASETS, builtin_classes
from pgfa.text.classes import ClassText

EXPECTED_COUNTS = {
    'ntu60': 60,
    'ntu120': 120,
    'pku': 51,
    'utd_mhad': 27,
    'nw_ucla': 10,
    'msr_action3d': 20,
}
TSV_FILES = ['ntu120.tsv', 'pku_mmd.tsv', 'utd_mhad.tsv', 'nw_ucla.tsv', 'msr_action3d.tsv']
REAL_SETS = ['utd_mhad', 'nw_ucla', 'msr_action3d']
# the repo checkout lives beside shared/ (…/main/tests/this_file -> …/shared/data)
SHARED_DATA = Path(__file__).resolve().parents[2] / 'shared' / 'data'


def test_every_file_dataset_is_registered():
    assert set(EXPECTED_COUNTS) | {'synthetic'} == set(BUILTIN_DATASETS)


@pytest.mark.parametrize('dataset', sorted(EXPECTED_COUNTS))
def test_counts_and_wellformed(dataset):
    classes = builtin_classes(dataset)
    assert len(classes) == EXPECTED_COUNTS[dataset]
    assert all(isinstance(c, ClassText) for c in classes)
    names = [c.name for c in classes]
    descs = [c.description for c in classes]
    assert all(n.strip() for n in names), 'empty class name'
    assert all(d.strip() for d in descs), 'empty description'
    assert len(set(names)) == len(names), 'duplicated class name'
    assert len(set(descs)) == len(descs), 'duplicated description'
    assert all(n != d for n, d in zip(names, descs))


@pytest.mark.parametrize('filename', TSV_FILES)
def test_raw_file_format(filename):
    raw = resources.files('pgfa.data').joinpath('lists', 'classes', filename).read_bytes()
    text = raw.decode('utf-8')  # must be UTF-8
    assert not text.startswith('\ufeff'), 'no BOM'
    assert text.endswith('\n')
    for i, line in enumerate(text.split('\n')[:-1]):
        assert line, f'{filename}: empty line {i + 1}'
        assert line.count('\t') == 1, f'{filename}:{i + 1}: need exactly one tab'
        assert '\r' not in line
        name, desc = line.split('\t')
        assert name == name.strip() and desc == desc.strip(), f'{filename}:{i + 1}: stray whitespace'


def test_ntu60_is_prefix_of_ntu120():
    assert builtin_classes('ntu60') == builtin_classes('ntu120')[:60]


def test_official_ntu_names():
    names = [c.name for c in builtin_classes('ntu120')]
    assert names[0] == 'drink water'
    assert names[5] == 'pickup'
    assert names[24] == 'put something inside pocket / take out something from pocket'
    assert names[49] == 'punching/slapping other person'
    assert names[57] == 'handshaking'
    assert names[58] == 'walking towards each other'
    assert names[59] == 'walking apart from each other'
    assert names[60] == 'put on headphone'
    assert names[104] == 'blow nose'
    assert names[105] == 'hit other person with something'
    assert names[119] == 'finger-guessing game (playing rock-paper-scissors)'


def test_two_person_descriptions_say_two_people():
    classes = builtin_classes('ntu120')
    two = set(range(49, 60)) | set(range(105, 120))
    for i, c in enumerate(classes):
        if i in two:
            assert c.description.startswith('Two people'), c.name
        else:
            assert c.description.startswith('One'), c.name


def test_pku_official_order():
    names = [c.name for c in builtin_classes('pku')]
    assert names[0] == 'bow'
    assert names[7] == 'drink water'
    assert names[13] == 'handshaking'
    assert names[50] == 'writing'
    # PKU-MMD's official ids 1..51 happen to be in alphabetical order
    assert names == sorted(names)


@pytest.mark.parametrize('dataset', REAL_SETS)
def test_real_set_names_match_classes_txt(dataset):
    path = SHARED_DATA / dataset / 'classes.txt'
    if not path.is_file():
        pytest.skip(f'shared data not available: {path} missing')
    expected = path.read_text(encoding='utf-8').splitlines()
    assert [c.name for c in builtin_classes(dataset)] == expected


def test_returns_fresh_list():
    a = builtin_classes('nw_ucla')
    a.clear()
    assert len(builtin_classes('nw_ucla')) == 10


def test_unknown_dataset_lists_known_names():
    with pytest.raises(ValueError) as err:
        builtin_classes('kinetics')
    for name in BUILTIN_DATASETS:
        assert name in str(err.value)


def test_synthetic():
    try:
        import pgfa.data.synthetic  # noqa: F401
    except ImportError as exc:
        pytest.skip(f'pgfa.data.synthetic not importable yet: {exc}')
    classes = builtin_classes('synthetic')
    assert classes and all(isinstance(c, ClassText) and c.name for c in classes)
    names = [c.name for c in classes]
    assert len(set(names)) == len(names)


@pytest.mark.parametrize('dataset', sorted(BUILTIN_DATASETS))
def test_every_text_mode_gives_texts_for_every_class(dataset):
    from pgfa.config import TEXT_MODES

    for c in builtin_classes(dataset):
        for mode in TEXT_MODES:
            texts = c.texts(mode)
            assert texts and all(t.strip() for t in texts), (dataset, c.name, mode)
        assert all(c.name in t for t in c.texts('templates'))
        parts = c.texts('parts')
        assert ' '.join(parts) == ' '.join(c.description.split()), 'the sentences are the whole description'
        if dataset != 'synthetic':  # the opening sentence names the action, the rest say how the body moves
            assert len(parts) >= 2 and parts[0].endswith('.') and len(parts[0]) < 90, (dataset, c.name, parts)
            assert parts[0].lower().startswith(('one person', 'two people', 'donning: one', 'doffing: one'))
