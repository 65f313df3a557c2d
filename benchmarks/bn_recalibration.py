"""How much do a run's stored BatchNorm statistics cost it? Seen-class data only.

For each run folder, scores the checkpoint against the seen-class texts on
the seen-class training samples and the seen validation samples, in
evaluation mode, with (a) the statistics stored in the checkpoint and (b) the
statistics re-estimated on N seen-training samples with dropout off
(:mod:`pgfa.training.batchnorm`). No unseen class or test sample is read.

    python benchmarks/bn_recalibration.py runs/demo/fixed [RUN ...] [--checkpoint last.pt] [--samples 32,128,1000]
"""
from __future__ import annotations

import argparse
import copy

import torch

from pgfa.config import TrainConfig
from pgfa.training.batchnorm import recalibrate_batchnorm, recalibration_indices
from pgfa.training.checkpoint import load_checkpoint
from pgfa.run import build_run_model, model_signature, prepare_inputs
from pgfa.scoring import seen_validation


def seen_top1(model, inputs, indices) -> float:
    return seen_validation(model, inputs, torch.device("cpu"), scale=1.0, indices=indices)["val_top1"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--checkpoint", default="last.pt")
    parser.add_argument("--samples", default="32,128,1000", help="comma-separated recalibration sizes")
    args = parser.parse_args()
    sizes = [int(s) for s in args.samples.split(",")]
    print(f"{'run':<40} {'statistics':<26} {'seen train':>10} {'seen val':>9}")
    for run in args.runs:
        config = TrainConfig.load(f"{run}/config.yaml")
        inputs = prepare_inputs(config)
        model = build_run_model(config, inputs)
        state = load_checkpoint(f"{run}/{args.checkpoint}", model_signature(config, inputs))
        model.load_state_dict(state["model"])
        split = inputs.split
        note = f" (run used {config.bn_recalibration})" if config.bn_recalibration else ""
        print(f"{run:<40} {'stored' + note:<26} {seen_top1(model, inputs, split.train):>10.3f} "
              f"{seen_top1(model, inputs, split.val):>9.3f}")
        for n in sizes:
            recal = copy.deepcopy(model)
            indices = recalibration_indices(split.train, n, config.seed)
            recalibrate_batchnorm(recal, inputs.skeletons.data, indices, torch.device("cpu"), config.batch_size)
            print(f"{'':<40} {f're-estimated, {len(indices)} samples':<26} "
                  f"{seen_top1(recal, inputs, split.train):>10.3f} {seen_top1(recal, inputs, split.val):>9.3f}")


if __name__ == "__main__":
    main()
