"""Turn a checkpoint of the PGFA reference code into a pgfa run folder.

The reference (kaai520/PGFA ``main.py``, ``Processor.save_model``) saves
``torch.save({'encoder': ST-GCN state_dict, 'adapter': Linear(256->768)
state_dict}, path)``. The key names and shapes below are those of
``shared/reference/pgfa_release_checkpoint_keys.tsv``, listed from a
checkpoint the reference code itself saved (``module.`` prefixes from
``DataParallel`` are stripped first):

=====================================  ======================================
reference                              pgfa (:class:`~pgfa.models.model.ZeroShotModel`)
=====================================  ======================================
``encoder`` ``A``                      ``backbone.A`` (fixed spatial adjacency)
``encoder`` ``data_bn.*``              ``backbone.data_bn.*``
``encoder`` ``st_gcn_networks.i.*``    ``backbone.blocks.i.*``
``encoder`` ``edge_importance.i``      ``backbone.blocks.i.edge_importance``
``adapter`` ``adapter.weight/bias``    ``projection.weight/bias`` (768 x 256)
=====================================  ======================================

Inside a block the names already agree (``gcn.conv``, ``tcn.0``/``.2``/``.3``,
``residual.0``/``.1``), so the import is a renaming: measured outside the
project, pgfa's ``STGCN('ntu25')`` given the renamed weights reproduces the
reference model's eval-mode output within 1.2e-6. Every key must find its
place and every place must be filled, with equal shapes; otherwise nothing is
written and the error lists the offending keys.

Model selection: the reference saves the epoch with the best top-1 *on the
unseen test classes* (``Processor.test_epoch``: ``if acc > self.best_acc:
self.save_model()``). An imported run says so wherever its figures are
reported (``selection`` in ``best.pt`` and ``imported.json``); pgfa's own runs
choose on seen-class validation.
"""
from __future__ import annotations

import datetime
import re
import shutil
from pathlib import Path
from typing import Callable

import torch

from pgfa.config import TrainConfig
from pgfa.data.features import file_provenance, load_text_features
from pgfa.data.formats import load_skeletons
from pgfa.data.release import check_fixed_unseen
from pgfa.data.split_registry import resolve_split
from pgfa.io import write_json
from pgfa.run import BEST, build_run_model, model_signature, prepare_inputs, save_checkpoint, write_run_files

IMPORT_RECORD = "imported.json"
CHOSEN_BY_AUTHORS = (
    "chosen by the checkpoint's authors, not by pgfa: the PGFA reference code keeps the epoch with the best "
    "top-1 on the unseen test classes (main.py, Processor.test_epoch), so these figures are optimistic compared "
    "with pgfa's own runs, which choose on seen-class validation")
# support factor of the alignment per dataset (SPEC section 7; the reference config.py's support_factor)
DATASET_ALPHA = {"ntu60": 0.9, "ntu120": 0.4, "pku": 1.0}

_BLOCK = re.compile(r"st_gcn_networks\.(\d+)\.(.+)")
_EDGE = re.compile(r"edge_importance\.(\d+)")


class CheckpointImportError(ValueError):
    """A file that is not a usable reference checkpoint; nothing was written."""


def read_reference_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a reference checkpoint as ``{"encoder.<key>" | "adapter.<key>": tensor}``.

    Loaded with ``weights_only=True`` (no code in the file runs); a leading
    ``module.`` on a key is removed.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointImportError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointImportError(f"{path}: not readable as a weights-only torch checkpoint "
                                    f"({type(err).__name__}: {err})") from None
    if not isinstance(state, dict) or not {"encoder", "adapter"} <= set(state):
        keys = sorted(state)[:8] if isinstance(state, dict) else type(state).__name__
        raise CheckpointImportError(f"{path}: expected the reference format {{'encoder': ..., 'adapter': ...}} "
                                    f"(kaai520/PGFA main.py save_model); found {keys}")
    extra = sorted(set(state) - {"encoder", "adapter"})
    if extra:
        raise CheckpointImportError(f"{path}: unexpected top-level entries {extra} beside encoder/adapter")
    flat = {}
    for part in ("encoder", "adapter"):
        if not isinstance(state[part], dict):
            raise CheckpointImportError(f"{path}: '{part}' is not a state dict")
        for key, value in state[part].items():
            if not isinstance(value, torch.Tensor):
                raise CheckpointImportError(f"{path}: {part} entry {key!r} is not a tensor")
            flat[f"{part}.{key.removeprefix('module.')}"] = value
    return flat


def pgfa_name(reference_key: str) -> str | None:
    """pgfa's name for a reference key (``encoder.st_gcn_networks.3.tcn.0.weight`` ->
    ``backbone.blocks.3.tcn.0.weight``), or ``None`` when the key has no place."""
    part, _, key = reference_key.partition(".")
    if part == "adapter":
        key = key.removeprefix("adapter.")
        return f"projection.{key}" if key in ("weight", "bias") else None
    if part != "encoder":
        return None
    if key == "A" or key.startswith("data_bn."):
        return f"backbone.{key}"
    block = _BLOCK.fullmatch(key)
    if block:
        return f"backbone.blocks.{block.group(1)}.{block.group(2)}"
    edge = _EDGE.fullmatch(key)
    if edge:
        return f"backbone.blocks.{edge.group(1)}.edge_importance"
    return None


def map_reference_state(reference: dict[str, torch.Tensor], model: torch.nn.Module,
                        where: str = "checkpoint") -> dict[str, torch.Tensor]:
    """Rename ``reference`` (from :func:`read_reference_checkpoint`) to ``model``'s keys, checking everything.

    Raises :class:`CheckpointImportError` listing reference keys with no place
    in ``model``, ``model`` keys the checkpoint does not fill, and shape
    mismatches; returns a state dict ``model.load_state_dict`` takes strictly.
    """
    target = model.state_dict()
    mapped, origin, unmatched = {}, {}, []
    for key, value in reference.items():
        name = pgfa_name(key)
        if name is None or name not in target:
            unmatched.append(key)
        else:
            mapped[name], origin[name] = value, key
    missing = sorted(set(target) - set(mapped))
    shapes = [f"{origin[k]} {tuple(v.shape)} -> {k} {tuple(target[k].shape)}"
              for k, v in mapped.items() if tuple(v.shape) != tuple(target[k].shape)]
    problems = []
    for label, items in (("reference keys with no place in pgfa's model", sorted(unmatched)),
                         ("pgfa keys the checkpoint does not fill", missing), ("shape mismatches", shapes)):
        if items:
            shown = ", ".join(items[:6]) + (f" ... ({len(items)} in all)" if len(items) > 6 else "")
            problems.append(f"{label}: {shown}")
    if problems:
        raise CheckpointImportError(f"{where}: not the reference ST-GCN + Linear(256->768) checkpoint pgfa can "
                                    f"import ({'; '.join(problems)}); nothing was written")
    return {k: mapped[k].to(target[k].dtype) for k in target}


def import_config(data: str, unseen: list[int], text_features: str, split_name: str | None,
                  alpha: float | None = None, device: str = "auto") -> TrainConfig:
    """The config recorded for an imported run: the reference's ST-GCN setting on ``data``."""
    dataset = (split_name or "").split("/")[0]
    if alpha is None:
        alpha = DATASET_ALPHA.get(dataset, 0.9)
    return TrainConfig(data=str(data), unseen=sorted(int(c) for c in unseen), backbone="stgcn",
                       text_features=str(text_features), alpha=alpha, device=device)


def _unseen_for(data: str, split: str | None, skeletons) -> tuple[list[int], str | None]:
    fixed = getattr(skeletons, "fixed_unseen", None)
    name = getattr(skeletons, "split_name", None) or None
    if split is None:
        if not fixed:
            raise CheckpointImportError(f"{data}: this data does not fix the unseen classes; give --split")
        return sorted(fixed), name
    unseen = resolve_split(split, skeletons.num_classes)
    check_fixed_unseen(skeletons, unseen)
    return unseen, split if "/" in split else name


def _prepare_folder(out: Path, force: bool) -> None:
    if out.exists() and any(out.iterdir()):
        if not force:
            raise FileExistsError(f"{out} exists and is not empty; choose another --out or pass --force")
        shutil.rmtree(out)


def import_checkpoint(checkpoint: str | Path, data: str, text_features: str | Path, out: str | Path,
                      split: str | None = None, alpha: float | None = None, force: bool = False,
                      log: Callable[[str], None] = print) -> Path:
    """Write a pgfa run folder ``out`` whose ``best.pt`` holds the reference checkpoint's weights.

    ``data``: the split's data (a release folder ``data/zeroshot/<ds>/split_<k>``
    or any input ``pgfa train`` reads); ``split``: its name (``ntu60/split_1``),
    optional when the data fixes the unseen classes; ``text_features``: the
    release's ``(K, 768)`` class embeddings (``data/language/<ds>_des_embeddings.npy``,
    the reference's ``language_path``). ``pgfa evaluate out`` then reports the
    released model's top-1 with and without alignment.
    """
    checkpoint, out = Path(checkpoint).expanduser(), Path(out).expanduser()
    reference = read_reference_checkpoint(checkpoint)  # fail early, before the data is read
    skeletons = load_skeletons(data)
    unseen, split_name = _unseen_for(data, split, skeletons)
    text = load_text_features(text_features, skeletons.num_classes)
    adapter = reference.get("adapter.adapter.weight", reference.get("adapter.weight"))
    if adapter is not None and adapter.ndim == 2 and adapter.shape[0] != text.shape[1]:
        raise CheckpointImportError(f"{checkpoint}: the adapter maps to {adapter.shape[0]}-d, but {text_features} "
                                    f"holds {text.shape[1]}-d class embeddings; use the embeddings it was trained with")
    config = import_config(data, unseen, text_features, split_name, alpha)
    inputs = prepare_inputs(config, skeletons)
    model = build_run_model(config, inputs)
    state = map_reference_state(reference, model, where=str(checkpoint))
    model.load_state_dict(state)
    own_graph = build_run_model(config, inputs).state_dict()["backbone.A"]
    graph_diff = float((state["backbone.A"] - own_graph).abs().max())
    _prepare_folder(out, force)
    write_run_files(out, config, inputs)
    selection = {"chosen_by": CHOSEN_BY_AUTHORS, "source": str(checkpoint)}
    save_checkpoint(out / BEST, {"model": model.state_dict(), "signature": model_signature(config, inputs),
                                 "epoch": 0, "epoch_done": 0, "selection": selection})
    write_json(out / IMPORT_RECORD, {
        "checkpoint": file_provenance(checkpoint), "text_features": file_provenance(text_features),
        "split": split_name, "unseen_classes": unseen, "format": "kaai520/PGFA main.py save_model",
        "keys_imported": len(state), "graph_A_max_abs_diff_to_pgfa": graph_diff,
        "selected_on": CHOSEN_BY_AUTHORS, "epoch": "unknown (the reference does not store it)",
        "imported_at": datetime.datetime.now().isoformat(timespec="seconds")})
    if graph_diff > 1e-5:
        log(f"note: the checkpoint's adjacency A differs from pgfa's ntu25 graph by up to {graph_diff:.2e}; "
            "the checkpoint's A is used")
    log(f"imported {len(state)} tensors from {checkpoint} into {out / BEST} ({split_name or 'unseen ' + str(unseen)})")
    return out



def identity_selection(data: str) -> str:
    return (f"no training and no selection: the projection is the identity, so the precomputed features of {data} "
            "are scored as they are (right for projection-layer features, which already lie in the text space)")


def import_identity(data: str, text_features: str | Path, out: str | Path, split: str | None = None,
                    alpha: float | None = None, force: bool = False, log: Callable[[str], None] = print) -> Path:
    """A run folder that scores precomputed features ``features:DIR`` directly (identity projection).

    For the round trip pgfa -> ``export-features --layer projection`` -> pgfa:
    ``pgfa evaluate`` on this run scores the exported features exactly as the
    source run scored its own (same features up to float rounding, same
    texts, same alignment α, taken from the export's manifest when there).
    """
    from pgfa.data.features import FeatureSet, read_manifest

    out = Path(out).expanduser()
    skeletons = load_skeletons(data)
    if not isinstance(skeletons, FeatureSet):
        raise CheckpointImportError(f"{data}: an identity projection needs precomputed features (features:DIR)")
    unseen, split_name = _unseen_for(data, split, skeletons)
    text = load_text_features(text_features, skeletons.num_classes)
    dim = int(skeletons.data.shape[1])
    if text.shape[1] != dim:
        raise CheckpointImportError(f"{data}: {dim}-d features cannot be scored against the {text.shape[1]}-d "
                                    f"embeddings of {text_features} without a trained projection; export the "
                                    "projection layer, or train one with pgfa train --backbone identity")
    manifest = read_manifest(str(data).removeprefix("features:")) or {}
    if alpha is None:
        alpha = manifest.get("alpha")
    config = TrainConfig(data=str(data), unseen=unseen, backbone="identity", text_features=str(text_features),
                         alpha=alpha if alpha is not None else 0.9,
                         align_temperature=manifest.get("align_temperature"))
    inputs = prepare_inputs(config, skeletons)
    model = build_run_model(config, inputs)
    with torch.no_grad():
        model.projection.weight.copy_(torch.eye(dim))
        model.projection.bias.zero_()
    _prepare_folder(out, force)
    write_run_files(out, config, inputs)
    save_checkpoint(out / BEST, {"model": model.state_dict(), "signature": model_signature(config, inputs),
                                 "epoch": 0, "epoch_done": 0,
                                 "selection": {"chosen_by": identity_selection(str(data))}})
    write_json(out / IMPORT_RECORD, {"identity_projection": True, "features": str(data),
                                     "text_features": file_provenance(text_features), "source_manifest": manifest.get("run"),
                                     "selected_on": identity_selection(str(data))})
    log(f"wrote {out}: identity projection on {data} ({len(inputs.split.unseen_test)} unseen test samples)")
    return out
