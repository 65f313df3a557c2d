import torch

from pgfa.training.loss import soft_target_contrastive_loss


def _direct(s, t, y, scale=1 / 0.07):
    """The SPEC 6 formula written out element by element."""
    b = len(y)
    s = s / s.norm(dim=1, keepdim=True)
    t = t / t.norm(dim=1, keepdim=True)
    logits = [[scale * float(s[i] @ t[j]) for j in range(b)] for i in range(b)]
    target = [[10.0 if y[i] == y[j] else 0.0 for j in range(b)] for i in range(b)]

    def softmax(row):
        m = max(row)
        e = [torch.tensor(v - m).exp().item() for v in row]
        return [v / sum(e) for v in e]

    def kl_rows(p_rows, l_rows):
        total = 0.0
        for p_row, l_row in zip(p_rows, l_rows):
            p, q = softmax(p_row), softmax(l_row)
            total += sum(pi * (torch.tensor(pi).log().item() - torch.tensor(qi).log().item()) for pi, qi in zip(p, q))
        return total / len(p_rows)

    transpose = lambda m: [list(col) for col in zip(*m)]
    return 0.5 * (kl_rows(target, logits) + kl_rows(transpose(target), transpose(logits)))


def test_loss_matches_direct_computation():
    torch.manual_seed(0)
    s, t = torch.randn(5, 6), torch.randn(5, 6)
    y = torch.tensor([0, 1, 0, 2, 1])
    t = t[y]  # each sample's class text: same label, same text
    got = soft_target_contrastive_loss(s, t, y).item()
    assert abs(got - _direct(s, t, y)) < 1e-4


def test_loss_is_lower_when_features_match_their_texts():
    torch.manual_seed(0)
    text = torch.nn.functional.normalize(torch.randn(4, 16), dim=-1)
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    aligned = soft_target_contrastive_loss(text[y] + 0.01 * torch.randn(6, 16), text[y], y)
    shuffled = soft_target_contrastive_loss(text[y.roll(1)], text[y], y)
    assert aligned < shuffled


def test_loss_gradient_flows_to_features():
    s = torch.randn(4, 8, requires_grad=True)
    y = torch.tensor([0, 1, 1, 2])
    soft_target_contrastive_loss(s, torch.randn(3, 8)[y], y).backward()
    assert s.grad is not None and s.grad.abs().sum() > 0
