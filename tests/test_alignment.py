import math

import pytest
import torch
import torch.nn.functional as F

from pgfa.alignment.prototype import prototype_align


def test_prototypes_pull_predictions_towards_the_confident_cluster():
    # Two text features on the x and y axes; class-1 samples sit near the
    # diagonal but nearer x, so text features misclassify one of them. Their
    # confident companions form a prototype that pulls it back.
    text = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    features = torch.tensor([
        [1.0, 0.05, 0.0], [1.0, -0.05, 0.0], [1.0, 0.0, 0.05],  # class 0: confidently near x
        [0.2, 1.0, 1.0], [0.1, 1.0, 1.0], [0.15, 1.0, 0.9],  # class 1: far from both texts, nearer y
        [0.45, 0.4, 1.0],  # class 1, but text features say class 0
    ])
    truth = torch.tensor([0, 0, 0, 1, 1, 1, 1])
    result = prototype_align(features, text, alpha=0.9)
    assert (result.initial_labels == truth).sum() == 6  # the last sample is wrong from text alone
    assert torch.equal(result.labels, truth)  # alignment fixes it


def test_alpha_zero_keeps_text_features():
    torch.manual_seed(0)
    features, text = torch.randn(40, 8), torch.randn(5, 8)
    result = prototype_align(features, text, alpha=0.0)
    assert torch.allclose(result.prototypes, F.normalize(text, dim=-1))
    assert torch.equal(result.labels, result.initial_labels)
    assert not result.support.any()


def test_class_without_support_keeps_its_text_feature():
    text = torch.eye(3)
    features = torch.tensor([[1.0, 0.1, 0.0], [1.0, 0.0, 0.1], [0.1, 1.0, 0.0], [0.0, 1.0, 0.2]])
    result = prototype_align(features, text, alpha=1.0)
    assert torch.allclose(result.prototypes[2], text[2])  # nobody predicted class 2
    assert not torch.allclose(result.prototypes[0], text[0])


def test_support_is_the_lowest_entropy_fraction():
    torch.manual_seed(1)
    text = F.normalize(torch.randn(2, 16), dim=-1)
    features = text[0] + 0.3 * torch.randn(10, 16)
    result = prototype_align(features, text, alpha=0.5)
    members = torch.nonzero(result.initial_labels == 0).flatten()
    n_support = math.floor(0.5 * len(members))
    expected = members[result.entropy[members].argsort()[:n_support]]
    assert set(torch.nonzero(result.support).flatten().tolist()) == set(expected.tolist())
    proto = F.normalize(F.normalize(features[expected], dim=-1).mean(0), dim=0)
    assert torch.allclose(result.prototypes[0], proto, atol=1e-6)


def test_temperature_changes_which_samples_count_as_confident():
    # Both samples are predicted as class 0. Sample a is torn between classes
    # 0 and 1 but far from class 2; sample b is clearly class 0. Without a
    # temperature the nearly flat softmax ranks a as more confident (its
    # cosines spread more); at the training scale b is the confident one.
    text = torch.eye(4)[:3]
    a = torch.tensor([0.5, 0.45, -0.6, (1 - 0.25 - 0.2025 - 0.36) ** 0.5])
    b = torch.tensor([0.5, 0.0, 0.0, 0.75 ** 0.5])
    features = torch.stack([a, b])
    paper = prototype_align(features, text, alpha=0.5)
    scaled = prototype_align(features, text, alpha=0.5, temperature=0.07)
    assert paper.initial_labels.tolist() == scaled.initial_labels.tolist() == [0, 0]
    assert paper.support.tolist() == [True, False]
    assert scaled.support.tolist() == [False, True]
    with pytest.raises(ValueError, match="temperature"):
        prototype_align(features, text, alpha=0.5, temperature=0.0)


def test_alpha_out_of_range_is_refused():
    with pytest.raises(ValueError, match="alpha"):
        prototype_align(torch.randn(3, 4), torch.randn(2, 4), alpha=1.5)


def test_diagnostics_report_prototypes_nearer_the_true_centre():
    from pgfa.evaluation.diagnostics import alignment_diagnostics

    torch.manual_seed(0)
    centres = F.normalize(torch.randn(3, 16), dim=-1)
    targets = torch.arange(3).repeat_interleave(20)
    features = centres[targets] + 0.1 * torch.randn(60, 16)
    gap = F.normalize(torch.randn(16), dim=0)
    text = F.normalize(centres + gap, dim=-1)  # every text shifted the same way: a modality gap
    result = prototype_align(features, text, alpha=0.9)
    diag = alignment_diagnostics(features, text, targets.numpy(), result, ["a", "b", "c"])
    assert diag["classes_with_prototype_nearer_than_text"] == 3
    for entry in diag["per_class"].values():
        assert entry["cos_prototype_to_centroid"] > entry["cos_text_to_centroid"]
        assert entry["support_precision"] == 1.0


def test_online_alignment_equals_batch_when_given_the_whole_stream_at_once():
    from pgfa.alignment.online import OnlineAligner

    torch.manual_seed(3)
    text = F.normalize(torch.randn(4, 12), dim=-1)
    features = text[torch.randint(0, 4, (40,))] + 0.4 * torch.randn(40, 12)
    batch = prototype_align(features, text, alpha=0.9).labels
    assert torch.equal(OnlineAligner(text, alpha=0.9).update(features), batch)
    scaled = prototype_align(features, text, alpha=0.5, temperature=0.07).labels
    assert torch.equal(OnlineAligner(text, alpha=0.5, temperature=0.07).update(features), scaled)


def test_online_alignment_starts_from_the_text_features_and_then_uses_prototypes():
    from pgfa.alignment.online import OnlineAligner

    text = torch.eye(2)
    aligner = OnlineAligner(text, alpha=1.0, min_support=3)
    first = torch.tensor([[0.9, 0.5], [0.95, 0.45], [1.0, 0.4]])  # a class-0 cluster off its text feature
    assert aligner.update(first[:1]).tolist() == [0]
    # a sample nearer text 1 than text 0, but close to the class-0 cluster once it has a prototype
    probe = torch.tensor([[0.6, 0.62]])
    assert OnlineAligner(text, alpha=1.0, min_support=3).update(probe).tolist() == [1]
    aligner.update(first[1:])
    assert aligner.update(probe).tolist() == [0]
