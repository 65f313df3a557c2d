"""``pgfa layouts``: the joint layouts pgfa knows, and how each source maps to NTU-25."""
from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("layouts", help="list the joint layouts (models, devices, mocap files) and their NTU mapping")
    p.add_argument("name", nargs="?", help="a layout: print its joints and, for a source layout, the rule "
                                           "giving each NTU joint")
    return p


def layout_table() -> list[str]:
    """Lines of the overview table (also the README's layout table)."""
    from pgfa.data.layouts import LAYOUTS, SOURCE_LAYOUTS

    lines = ["| layout | kind | joints | unit | axes | what |", "|---|---|---|---|---|---|"]
    for layout in LAYOUTS.values():
        what = "NTU RGB+D / PKU-MMD (Kinect v2)" if layout.name == "ntu25" else "Kinect v1 (UTD-MHAD, NW-UCLA, MSR)"
        lines.append(f"| `{layout.name}` | model | {layout.num_joints} | metres | y up | {what} |")
    for layout in SOURCE_LAYOUTS.values():
        joints = layout.num_joints or "named in the file"
        lines.append(f"| `{layout.name}` | source | {joints} | {layout.unit} | {layout.axes} | {layout.description} |")
    return lines


def _describe(name: str) -> list[str]:
    from pgfa.data.layouts import LAYOUTS, NTU25, get_source_layout

    if name in LAYOUTS:
        layout = LAYOUTS[name]
        lines = [f"{layout.name}: {layout.num_joints} joints (model layout; centre {layout.joints[layout.center]})"]
        for i, joint in enumerate(layout.joints):
            ntu = "" if layout.to_ntu25 is None else f"-> ntu25 {NTU25.joints[layout.to_ntu25[i]]}"
            lines.append(f"  {i:2d} {joint:<16}{ntu}")
        return lines
    layout = get_source_layout(name)
    lines = [f"{layout.name}: {layout.description}", f"  unit: {layout.unit}", f"  axes: {layout.axes}"]
    if layout.joints:
        lines.append(f"  joints ({layout.num_joints}): {', '.join(layout.joints)}")
    lines.append("  NTU joint <- mean of source joints (first alternative the recording has):")
    for i, (joint, rule) in enumerate(zip(NTU25.joints, layout.to_ntu25)):
        lines.append(f"  {i:2d} {joint:<15} <- {' | '.join(' + '.join(a) for a in rule)}")
    return lines


def run(args: argparse.Namespace) -> int:
    print("\n".join(_describe(args.name) if args.name else layout_table()))
    if not args.name:
        print("\n'pgfa layouts NAME' shows one layout's joints and its mapping to ntu25 "
              "(kinect_v1_20 takes its 20 joints from ntu25).")
    return 0
