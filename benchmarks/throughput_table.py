"""The table ``eval_throughput.py`` prints: seconds per video for VBench and ours, per dimension and in total.

Only what was measured is printed: a dimension timed on one side only shows ``nan`` and no ratio, and the
totals appear for the passes that ran (per dimension, one pass in turn, one pass side by side).
"""

from __future__ import annotations


def print_comparison(dim_list: list[str], ours: dict[str, float], theirs: dict[str, float]) -> None:
    """Print the per-dimension rows and the totals of ``ours`` (our keys: dimensions, ``decode``,
    ``all_in_one_pass``, ``all_in_one_pass_parallel``) against ``theirs`` (VBench, per dimension)."""
    print(f"{'dimension':28s} {'VBench s/video':>15s} {'ours s/video':>13s} {'speed-up':>9s}")
    nan = float("nan")
    for dim in dim_list:
        vb, mine = theirs.get(dim), ours.get(dim)
        ratio = f"{vb / mine:8.1f}x" if vb and mine else "      n/a"
        print(f"{dim:28s} {vb if vb else nan:15.2f} {mine if mine is not None else nan:13.2f} {ratio}")
    per_dim = all(d in ours for d in [*dim_list, "decode"])
    total_ours = sum(ours[d] for d in dim_list) + ours["decode"] if per_dim else None
    one_pass = ours.get("all_in_one_pass")
    if per_dim:
        print(f"{'decode (ours, shared)':28s} {'':15s} {ours['decode']:13.2f}")
    if theirs and set(theirs) == set(dim_list):
        total_vb = sum(theirs.values())
        if total_ours:
            print(f"{'total (sum of the above)':28s} {total_vb:15.2f} {total_ours:13.2f} "
                  f"{total_vb / total_ours:8.1f}x")
        if one_pass:
            print(f"{'total (ours in one pass)':28s} {total_vb:15.2f} {one_pass:13.2f} {total_vb / one_pass:8.1f}x")
        streams = ours.get("all_in_one_pass_parallel")
        if streams:
            print(f"{'total (one pass, streams)':28s} {total_vb:15.2f} {streams:13.2f} {total_vb / streams:8.1f}x")
    elif theirs and per_dim:
        done = [d for d in dim_list if d in theirs]
        part_vb, part_ours = sum(theirs[d] for d in done), sum(ours[d] for d in done) + ours["decode"]
        print(f"{'total (VBench dims done)':28s} {part_vb:15.2f} {part_ours:13.2f} {part_vb / part_ours:8.1f}x")
    elif total_ours:
        print(f"{'total (ours)':28s} {'':15s} {total_ours:13.2f}")
    if one_pass and not theirs:
        print(f"{'total (ours in one pass)':28s} {'':15s} {one_pass:13.2f}")
