#!/usr/bin/env python3
"""check_result.py RESULT_JSON [--progress]: the JSON tds-bench wrote is
well formed and has every figure of docs/performance.md; with --progress,
operations completed and nothing failed.  Exit 0 if so, 1 with the reasons."""
import json
import sys

LATENCY = ["count", "p50", "p95", "p99", "max", "mean"]
STEP = ["scenario", "mode", "concurrency", "offered_rate", "window_s",
        "completed", "exchanges", "exchanges_per_s", "uploads",
        "uploads_per_s", "upload_bytes_per_s", "errors", "latency_ms",
        "ttpd", "bench", "ttp_cpu_s_per_op", "ttp_cpu_over_crypto",
        "bound_per_s", "ratio_achieved_to_bound", "timeline"]
PROC = ["pid", "cpu_s", "cpu_s_per_op", "main_thread_waits_per_op",
        "rss_peak_kb", "rss_max_sampled_kb",
        "rss_start_kb", "rss_end_kb"]
CRYPTO = ["sign_per_s", "verify_per_s", "sha256_bytes_per_s", "sign_us",
          "verify_us", "cores", "ttp_per_exchange", "ttp_per_upload",
          "client_per_exchange", "bound_exchanges_per_s",
          "bound_uploads_per_s", "ttp_crypto_s_per_exchange"]


def check(doc, progress):
    bad = []

    def need(obj, keys, where):
        if not isinstance(obj, dict):
            bad.append(f"{where} is not an object")
            return
        for k in keys:
            if k not in obj:
                bad.append(f"{where}.{k} is missing")

    need(doc, ["tool", "format", "ok", "config", "setup", "crypto", "result",
               "steps", "errors_total"], "$")
    if bad:
        return bad
    need(doc["crypto"], CRYPTO, "crypto")
    for name in ["sign_per_s", "verify_per_s", "sha256_bytes_per_s"]:
        v = doc["crypto"].get(name)
        if not isinstance(v, (int, float)) or v <= 0:
            bad.append(f"crypto.{name} is not a positive number: {v!r}")
    steps = doc["steps"]
    if not isinstance(steps, list) or not steps:
        return bad + ["steps is empty"]
    for i, s in enumerate(steps + [doc["result"]]):
        where = f"steps[{i}]" if i < len(steps) else "result"
        need(s, STEP, where)
        lat = s.get("latency_ms", {})
        names = (["delivery", "receipt"] if s.get("scenario") == "exchange"
                 else ["upload_result"])
        for n in names:
            need(lat.get(n), LATENCY, f"{where}.latency_ms.{n}")
        if s.get("ttpd") is not None:
            need(s["ttpd"], PROC, f"{where}.ttpd")
    if progress:
        r = doc["result"]
        done = r.get("exchanges" if r.get("scenario") == "exchange"
                     else "uploads", 0)
        if not isinstance(done, int) or done <= 0:
            bad.append(f"no operation completed in the window ({done!r})")
        if doc["errors_total"] != 0:
            bad.append(f"{doc['errors_total']} error(s): "
                       f"{r.get('errors', {}).get('last')}")
        if doc["ok"] is not True:
            bad.append("ok is not true")
        if r.get("ttpd") is None:
            bad.append("result.ttpd is null: was --ttpd-pid given?")
        elif not r["ttpd"].get("rss_peak_kb"):
            bad.append("result.ttpd.rss_peak_kb is 0")
    return bad


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        with open(sys.argv[1], encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        print(f"not ok - {sys.argv[1]}: {e}")
        return 1
    bad = check(doc, "--progress" in sys.argv[2:])
    for b in bad:
        print(f"not ok - {b}")
    if bad:
        return 1
    print(f"ok - {sys.argv[1]} is complete")
    return 0


if __name__ == "__main__":
    sys.exit(main())
