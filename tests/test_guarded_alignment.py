"""The guarded alignment rule (pgfa.alignment.prototype), on hand-made features."""
import pytest
import torch
import torch.nn.functional as F

from pgfa.alignment.prototype import align_with_rule, guarded_align
from pgfa.alignment.prototype import prototype_align


def _gap_world(noise: float = 0.05, seed: int = 0):
    """Three classes whose features sit on e0, e1, e2; every text is shifted the same way (a modality gap, e5)."""
    torch.manual_seed(seed)
    e = torch.eye(6)
    centres = e[:3]
    text = F.normalize(centres + 1.5 * e[5], dim=-1)
    targets = torch.arange(3).repeat_interleave(10)
    return centres[targets] + noise * torch.randn(30, 6), text, targets


def test_a_class_with_too_few_predictions_for_a_prototype_keeps_its_samples():
    # Class 2's text is poor: only one of its ten samples is predicted as class 2 from text (the rest go to
    # class 1). With alpha 0.9 the paper gives class 2 no prototype (floor(0.9 * 1) = 0), keeps its bare text
    # feature, and every sample, the correct one too, goes to a prototype. The guarded rule keeps class 2's
    # text feature moved by the gap the other classes show, so the sample it had stays with it.
    e = torch.eye(6)
    features, _, targets = _gap_world()
    features[20:] = F.normalize(e[1] + 0.9 * e[2], dim=0) + 0.03 * torch.randn(10, 6)
    features[20] = F.normalize(0.3 * e[1] + e[2], dim=0)  # the one class-2 sample its text recognises
    text = F.normalize(torch.stack([e[0], e[1], F.normalize(e[2] - 0.5 * e[1], dim=0)]) + 1.5 * e[5], dim=-1)
    paper = prototype_align(features, text, alpha=0.9)
    guarded = guarded_align(features, text, alpha=0.9)
    assert paper.initial_labels[20] == 2 and (paper.initial_labels == 2).sum() == 1
    assert torch.allclose(paper.prototypes[2], text[2])
    assert (paper.labels == 2).sum() == 0  # the paper's rule: class 2 loses the one sample it had
    assert guarded.weights[2] == 0
    assert guarded.labels[20] == 2  # kept
    assert ((guarded.labels == targets)[20:]).sum() >= 1
    assert (guarded.labels == targets).float().mean() >= (paper.labels == targets).float().mean()


def test_a_class_nobody_is_predicted_as_keeps_its_text_feature_moved_by_the_shared_gap():
    features, text, targets = _gap_world()
    keep = targets != 2  # no sample of class 2 at all: nobody is predicted as it
    result = guarded_align(features[keep], text, alpha=0.9)
    assert (result.initial_labels == 2).sum() == 0
    assert result.weights.tolist()[2] == 0.0
    members = [F.normalize(F.normalize(features[keep][result.support & (result.initial_labels == c)], dim=-1)
                           .mean(0), dim=0) for c in (0, 1)]
    gap = torch.stack([members[0] - text[0], members[1] - text[1]]).mean(0)  # equal support sizes
    assert torch.allclose(result.prototypes[2], F.normalize(text[2] + gap, dim=0), atol=1e-5)
    # and so it lies much nearer where its features would be (e2) than its raw text does
    assert result.prototypes[2] @ torch.eye(6)[2] > 0.85 > 0.6 > text[2] @ torch.eye(6)[2]


def test_a_class_its_text_gives_to_nobody_wins_back_samples_a_neighbour_swallowed():
    # Class 2's features lie between e1 and e2 and its text points away from them: the text features give all
    # of class 2 to class 1. The paper's rule keeps class 2's bare text and labels nobody 2; the guarded rule
    # builds class 1's prototype from its capped, most confident support (its own samples) and moves class
    # 2's text by the shared gap, so some of class 2 comes back.
    torch.manual_seed(0)
    e = torch.eye(6)
    centres = torch.stack([e[0], e[1], F.normalize(e[1] + 0.8 * e[2], dim=0)])
    text = F.normalize(torch.stack([e[0], e[1], F.normalize(e[2] - 0.1 * e[1], dim=0)]) + 1.2 * e[5], dim=-1)
    targets = torch.arange(3).repeat_interleave(10)
    features = centres[targets] + 0.05 * torch.randn(30, 6)
    paper = prototype_align(features, text, alpha=0.9)
    guarded = guarded_align(features, text, alpha=0.9)
    assert (paper.initial_labels == 2).sum() == 0 and (paper.labels == 2).sum() == 0
    assert ((guarded.labels == 2) & (targets == 2)).sum() >= 2
    assert torch.equal(guarded.labels[:20], targets[:20])  # and classes 0 and 1 lose nothing for it


def test_balanced_well_recognised_classes_give_the_papers_prototypes_and_labels():
    features, text, _ = _gap_world()
    paper = prototype_align(features, text, alpha=0.9)
    guarded = guarded_align(features, text, alpha=0.9)
    assert torch.bincount(paper.initial_labels).tolist() == [10, 10, 10]  # every class at its share N/K
    assert torch.equal(guarded.weights, torch.ones(3))
    assert torch.allclose(guarded.prototypes, paper.prototypes, atol=1e-6)
    assert torch.equal(guarded.support, paper.support)
    assert torch.equal(guarded.labels, paper.labels)


def test_weight_grows_with_support_and_an_oversized_class_uses_its_capped_confident_support():
    e = torch.eye(6)
    features, text, _ = _gap_world()
    features[25:] = e[0] + 0.6 * e[2]  # five class-2 samples nearer text 0: class 0 gets 15, class 2 gets 5
    result = guarded_align(features, text, alpha=1.0)
    assert torch.bincount(result.initial_labels).tolist() == [15, 10, 5]
    assert result.weights.tolist() == pytest.approx([1.0, 1.0, 0.5])
    members = torch.nonzero(result.initial_labels == 0).flatten()
    chosen = torch.nonzero(result.support & (result.initial_labels == 0)).flatten()
    assert len(chosen) == 10  # capped at floor(alpha * N / K), not all 15
    assert set(chosen.tolist()) == set(members[result.entropy[members].argsort()[:10]].tolist())


def test_alpha_zero_and_shapes_and_bias_and_temperature_as_the_papers_rule():
    torch.manual_seed(2)
    features, text = torch.randn(40, 8), torch.randn(5, 8)
    zero = guarded_align(features, text, alpha=0.0)
    assert torch.allclose(zero.prototypes, F.normalize(text, dim=-1))
    assert torch.equal(zero.labels, zero.initial_labels) and not zero.support.any()
    result = guarded_align(features, text, alpha=0.9)
    assert result.scores.shape == (40, 5) and result.prototypes.shape == (5, 8) and result.weights.shape == (5,)
    assert result.labels.shape == result.initial_labels.shape == result.entropy.shape == result.support.shape
    bias = torch.tensor([0.0, 0.0, -0.2, 0.0, 0.0])
    biased, paper_biased = guarded_align(features, text, 0.9, bias=bias), prototype_align(features, text, 0.9, bias=bias)
    assert torch.equal(biased.initial_labels, paper_biased.initial_labels)  # the same calibrated pseudo-labels
    assert torch.allclose(biased.scores - bias, F.normalize(features, dim=-1)
                          @ biased.prototypes.t(), atol=1e-6)
    scaled = guarded_align(features, text, 0.5, temperature=0.07)
    assert torch.equal(scaled.entropy, prototype_align(features, text, 0.5, temperature=0.07).entropy)
    with pytest.raises(ValueError, match="alpha"):
        guarded_align(features, text, alpha=1.5)
    with pytest.raises(ValueError, match="temperature"):
        guarded_align(features, text, alpha=0.5, temperature=0.0)


def test_min_support_withholds_the_prototype_as_in_the_papers_rule():
    features, text, _ = _gap_world()
    result = guarded_align(features, text, alpha=0.9, min_support=10)  # 9 support samples per class: too few
    assert not result.support.any() and torch.equal(result.weights, torch.zeros(3))
    assert torch.allclose(result.prototypes, F.normalize(text, dim=-1), atol=1e-6)  # no support: no shift either


def test_rule_by_name():
    features, text, _ = _gap_world()
    assert torch.equal(align_with_rule("paper", features, text, 0.9).labels, prototype_align(features, text, 0.9).labels)
    assert align_with_rule("guarded", features, text, 0.9).weights is not None
    with pytest.raises(ValueError, match="unknown alignment rule 'best'"):
        align_with_rule("best", features, text, 0.9)


def test_online_aligner_takes_the_rule():
    from pgfa.alignment.online import OnlineAligner

    features, text, _ = _gap_world()
    batch = guarded_align(features, text, alpha=0.9).labels
    assert torch.equal(OnlineAligner(text, alpha=0.9, rule="guarded").update(features), batch)
