#!/usr/bin/env python3
"""Markdown tables of `cargo bench -p gregor-protocol --bench codec` results.

Usage: benches/report.py [CRITERION_DIR ...]

Each CRITERION_DIR is a `target/criterion` directory (default: the
workspace's), or a copy of one kept from an earlier run: with several, each
case shows the mean of the runs and every run's Gregor/kafka-protocol ratio,
so run-to-run noise is visible. Times are criterion's median per iteration;
MB is 10^6 bytes of the *uncompressed* batch encoding (see benches/codec.rs);
records/s counts the records one iteration encodes or decodes, read from the
`codec_cases.tsv` the bench writes next to criterion's output.
"""

import json
import sys
from pathlib import Path

KINDS = ["batch_encode", "batch_decode", "fetch_decode", "produce_encode"]
SIZES = ["100B", "1KB"]
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


def load(root):
    """{(group, function): median ns} and {group: (records, bytes, note)}."""
    times = {}
    for bench in root.glob("*/*/new/benchmark.json"):
        meta = json.loads(bench.read_text())
        est = json.loads((bench.parent / "estimates.json").read_text())
        times[(meta["group_id"], meta["function_id"])] = est["median"]["point_estimate"]
    cases = {}
    tsv = root / "codec_cases.tsv"
    if tsv.exists():
        for line in tsv.read_text().splitlines()[1:]:
            group, records, size, note = (line.split("\t") + [""])[:4]
            cases[group] = (int(records), int(size), note)
    return times, cases


def fmt_rate(x):
    return f"{x / 1e6:,.2f} M" if x >= 1e6 else f"{x / 1e3:,.0f} k"


def main():
    roots = [Path(p) for p in sys.argv[1:]] or [
        Path(__file__).resolve().parents[3] / "target" / "criterion"
    ]
    runs = [load(r) for r in roots]
    cases = {}
    for _, c in runs:
        cases.update(c)
    print(
        "| case | codec | Gregor MB/s | Gregor records/s | kafka-protocol MB/s "
        "| kafka-protocol records/s | ratio | ratio per run |"
    )
    print("|---|---|--:|--:|--:|--:|--:|--:|")
    for kind in KINDS:
        fns = ["gregor", "gregor-builder"] if kind == "batch_encode" else ["gregor"]
        for size in SIZES:
            for codec in CODECS:
                group = f"{kind}/{size}/{codec}"
                if group not in cases:
                    continue
                records, nbytes, _ = cases[group]
                kp = [t.get((group, "kafka-protocol")) for t, _ in runs]
                kp = [x for x in kp if x]
                for fn in fns:
                    g = [t.get((group, fn)) for t, _ in runs]
                    g = [x for x in g if x]
                    if not g or not kp:
                        continue
                    g_ns = sum(g) / len(g)
                    k_ns = sum(kp) / len(kp)
                    per_run = [
                        t[(group, "kafka-protocol")] / t[(group, fn)]
                        for t, _ in runs
                        if (group, fn) in t and (group, "kafka-protocol") in t
                    ]
                    label = f"{kind} {size}" + (" (builder)" if fn == "gregor-builder" else "")
                    print(
                        f"| {label} | {codec} "
                        f"| {nbytes / g_ns * 1e3:,.0f} | {fmt_rate(records / g_ns * 1e9)} "
                        f"| {nbytes / k_ns * 1e3:,.0f} | {fmt_rate(records / k_ns * 1e9)} "
                        f"| {k_ns / g_ns:.2f}x "
                        f"| {' / '.join(f'{r:.2f}' for r in per_run)} |"
                    )
    notes = [(g, c[2]) for g, c in sorted(cases.items()) if c[2]]
    if notes:
        print("\nEncoded sizes (one iteration's input or output):\n")
        print("| group | records | uncompressed bytes | encoded |")
        print("|---|--:|--:|---|")
        for g, note in notes:
            print(f"| {g} | {cases[g][0]} | {cases[g][1]} | {note} |")


if __name__ == "__main__":
    main()
