"""One-process ``torchrun`` smoke run of pgfa's distributed path (NCCL on CUDA, gloo with ``--device cpu``).

Run by ``benchmarks/gpu_check.sh`` as ``python3 -m torch.distributed.run --standalone --nproc-per-node 1
benchmarks/gpu_nccl_smoke.py``. A single process never joins a process group inside ``pgfa train``
(world size 1 trains without DDP), so this script does what a multi-GPU run does first: joins the
group, all-reduces a tensor, gathers features with gradients through
:func:`pgfa.training.distributed.all_gather_with_grad` (the loss's gather) and takes three DDP
training steps of the ST-GCN model. It prints ``nccl smoke ok`` (or ``gloo smoke ok``) and exits 0.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pgfa.models.model import build_model  # noqa: E402
from pgfa.training.distributed import all_gather_with_grad  # noqa: E402
from pgfa.training.loss import soft_target_contrastive_loss  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    cuda = args.device == "cuda"
    device = torch.device("cuda", 0) if cuda else torch.device("cpu")
    backend = "nccl" if cuda else "gloo"
    if cuda:
        torch.cuda.set_device(device)
    dist.init_process_group(backend, **({"device_id": device} if cuda else {}))
    try:
        t = torch.ones(4, device=device) * (dist.get_rank() + 1)
        dist.all_reduce(t)
        assert torch.equal(t.cpu(), torch.ones(4) * dist.get_world_size()), t
        torch.manual_seed(0)
        options = {} if cuda else {"channels": (8, 16), "strides": (1, 2)}
        module = build_model("stgcn", "ntu25", 32, dropout=0.0, options=options, device=device).to(device)
        model = torch.nn.parallel.DistributedDataParallel(module, device_ids=[0] if cuda else None)
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        x = torch.randn(8, 3, 20, 25, 2, device=device)
        labels = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3], device=device)
        text = torch.nn.functional.normalize(torch.randn(4, 32, device=device), dim=1)
        for _ in range(3):
            features = all_gather_with_grad(model(x))
            loss = soft_target_contrastive_loss(features.float(), text[labels.repeat(dist.get_world_size())],
                                                labels.repeat(dist.get_world_size()), scale=10.0)
            opt.zero_grad()
            loss.backward()
            opt.step()
        assert torch.isfinite(loss).item()
        print(f"{backend} smoke ok: world size {dist.get_world_size()}, loss {loss.item():.4f}")
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
