#!/usr/bin/env python3
"""The stalls of a paced soak set beside the live engine's runs.

    python3 tools/load/stalls.py FOLDER [N]

FOLDER holds the soak's `slow-requests.tsv` (written by `aftersale-load --soak-minutes M`) and the
server's log as `server.log` (the soak's `soak.db.log`, written at info level when the load tool
runs with AFTERSALE_LOAD_SERVER_LOG_LEVEL=info). Slow requests whose answers came within 30 ms of
each other make one stall; the N longest (15 by default) are printed with the engine's runs that
overlapped them: when each began (seconds from the first run), how long it ran, its write lock
(commit included), its fold of the customers read model, its events, customers and steps.
"""
import re
import sys


def main():
    folder = sys.argv[1]
    shown = int(sys.argv[2]) if len(sys.argv) > 2 else 15
    with open(folder + "/slow-requests.tsv") as f:
        slow = [tuple(map(float, line.split())) for line in f.read().splitlines()[1:]]
    runs = []
    with open(folder + "/server.log") as f:
        for line in f:
            if "engine caught up" not in line:
                continue
            fields = dict(re.findall(r"(\w+)=(\S+)", line))
            runs.append({k: int(fields[k]) for k in
                         ("started_uptime_ms", "run_ms", "write_lock_ms", "projection_ms", "events", "customers", "steps")})

    # By when each answer came: a request held back by the same cause answers with the others.
    stalls = []
    for end, sent, latency in sorted((s + l, s, l) for s, l in slow):
        if stalls and end - stalls[-1]["end"] < 30:
            stall = stalls[-1]
            stall["end"] = end
            stall["requests"] += 1
            stall["longest"] = max(stall["longest"], latency)
            stall["start"] = min(stall["start"], sent)
        else:
            stalls.append({"start": sent, "end": end, "requests": 1, "longest": latency})
    stalls.sort(key=lambda s: -s["longest"])

    first = runs[0]["started_uptime_ms"] if runs else 0
    print(f"{len(stalls)} stalls, {len(slow)} slow requests, {len(runs)} engine runs")
    for stall in stalls[:shown]:
        overlapping = [r for r in runs
                       if r["started_uptime_ms"] <= stall["end"] and r["started_uptime_ms"] + r["run_ms"] >= stall["start"]]
        described = "; ".join(
            f"run at {(r['started_uptime_ms'] - first) / 1000:.1f} s: {r['run_ms']} ms, lock {r['write_lock_ms']} ms, "
            f"read model {r['projection_ms']} ms, {r['events']} events, {r['customers']} customers, {r['steps']} steps"
            for r in overlapping) or "no engine run"
        print(f"at {(stall['start'] - first) / 1000:.1f} s: longest {stall['longest']:.0f} ms, "
              f"{stall['requests']} requests; {described}")


if __name__ == "__main__":
    main()
