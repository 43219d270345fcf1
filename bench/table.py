"""Turns bench/compare.sh's JSON lines into a Markdown table: the median of each repeat."""

import json
import statistics
import sys
from collections import defaultdict


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, scale=1.0, digits=2, suffix=""):
    if value is None:
        return "n/a"
    return f"{value * scale:.{digits}f}{suffix}"


def main(path):
    runs = defaultdict(list)
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            runs[(r["args"], r["server"], r.get("proto", "irc"))].append(r)
    print("| workload | server | deliveries/s | lost/dup/ooo | p99 latency | CPU s per million | RSS/conn | reg/s |")
    print("|---|---|---|---|---|---|---|---|")
    for (args, server, proto), rs in runs.items():
        ok = [r for r in rs if not r.get("error")]
        if not ok:
            print(f"| {args} | {server} ({proto}) | failed | | | | | |")
            continue
        faults = "/".join(str(max(r.get(k) or 0 for r in ok)) for k in ("lost", "duplicated", "out_of_order"))
        p99 = median([(r.get("latency") or {}).get("p99_us") for r in ok])
        print(
            f"| {args} | {server} ({proto}) "
            f"| {fmt(median([r.get('deliveries_per_second') for r in ok]), 1e-3, 0, ' k')} "
            f"| {faults if ok[0].get('expected') is not None else 'n/a'} "
            f"| {fmt(p99, 1e-3, 1, ' ms')} "
            f"| {fmt(median([r.get('server_cpu_seconds_per_million') for r in ok]), 1, 2)} "
            f"| {fmt(median([r.get('server_rss_per_connection_bytes') for r in ok]), 1e-3, 2, ' KB')} "
            f"| {fmt(median([r.get('registrations_per_second') for r in ok]), 1, 0)} |"
        )


if __name__ == "__main__":
    main(sys.argv[1])
