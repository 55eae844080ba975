#!/usr/bin/env python3
"""`make bench`'s measurements, table, JSON and chart (scripts/bench.sh builds and starts the stack).

Sections, each against references measured in the same run (absolute times drift; ratios hold):
  coldstart  every release function binary and the two references (sdk-floor: one GetItem;
             hello-http: lambda_http alone) under scripts/coldstart.py's Runtime API, with the
             stack's environment and emulator: init, first response, warm, peak RSS, size;
  gateway    wrk on `GET /health` through the gateway vs cargo-lambda's function-URL path to
             the same function (`/lambda-url/health/health` on the Lambda port), interleaved
             A B A B, same connections, the stack's build (devstack and the functions both
             release, or both debug: --stack-build): req/s, p50, p99, ratio;
  cache      wrk on `GET /products/{id}` with the cache up vs `devstack fault redis down`, then
             reads until Redis counts a hit again (the breakers closed) before the next section;
  saga       a first order (cold instances; reported apart), then N orders (customer token,
             tok_visa): `POST /orders`, then `GET /orders/{id}` every 20 ms until CONFIRMED:
             p50/p99 of that time;
  load       `devstack load --scenario get-product` (its JSON).
Then the issue's targets with their ratios and PASS/MISS. A benchmark asserts nothing: it exits 0
when it ran, whatever the figures.
"""

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import coldstart  # noqa: E402  (scripts/coldstart.py)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chart  # noqa: E402  (scripts/bench/chart.py)

# The issue's targets (issue 13, Deliver 5).
FIRST_RESPONSE_MAX = 1.25  # x the SDK floor's first response
PEAK_RSS_MAX = 1.3  # x the SDK floor's peak RSS
GATEWAY_MIN = 0.8  # x the function-URL path's req/s
SAGA_P50_MAX_MS = 500.0
REFERENCES = ("sdk-floor", "hello-http")


def say(*args):
    print("==", *args, file=sys.stderr, flush=True)


# --- HTTP -----------------------------------------------------------------------------------


def http(method, url, body=None, token=None, headers=None, timeout=60):
    """(status, parsed JSON or None) of one request."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            status = resp.status
    except urllib.error.HTTPError as e:
        raw = e.read()
        status = e.code
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, None


def devstack(args, cmd, check=True):
    out = subprocess.run([args.devstack, *cmd], capture_output=True, text=True)
    if check and out.returncode != 0:
        raise SystemExit(f"devstack {' '.join(cmd)} failed: {out.stderr.strip()}")
    return out


def token(args, sub, groups):
    return devstack(args, ["token", "--sub", sub, "--groups", groups]).stdout.strip()


# --- wrk ------------------------------------------------------------------------------------

UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def to_ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    return float(m.group(1)) * UNITS_MS[m.group(2)] if m else None


def wrk(args, url, label):
    """One wrk run on `url` after a warm-up: req/s, p50/p99 (ms), non-2xx, errors."""
    base = ["wrk", f"-t{args.threads}", f"-c{args.connections}"]
    subprocess.run([*base, f"-d{args.warmup}s", url], capture_output=True, check=True)
    out = subprocess.run([*base, f"-d{args.duration}s", "--latency", url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:(.*)$", out, re.M)
    result = {
        "label": label,
        "url": url,
        "rps": rps,
        "p50_ms": to_ms(lat.get("50", "")),
        "p99_ms": to_ms(lat.get("99", "")),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1).strip() if errors else "",
    }
    say(f"{label:<12} {rps:>9.0f} req/s  p50 {result['p50_ms']:.2f} ms  p99 {result['p99_ms']:.2f} ms  non-2xx {result['non_2xx']}")
    return result


def mean_of(runs):
    return {
        "rps": statistics.fmean(r["rps"] for r in runs),
        "p50_ms": statistics.fmean(r["p50_ms"] for r in runs),
        "p99_ms": statistics.fmean(r["p99_ms"] for r in runs),
        "non_2xx": sum(r["non_2xx"] for r in runs),
    }


# --- sections -------------------------------------------------------------------------------


def section_coldstart(args, ready):
    binaries = [os.path.join(args.release_dir, n) for n in args.functions + list(REFERENCES)]
    base = coldstart.read_env_file(args.env_file)
    say(f"cold starts: {len(binaries)} binaries x {args.runs} runs (emulator {ready['endpoint']})")

    def progress(name, entry):
        print(coldstart.row(name, entry), file=sys.stderr, flush=True)

    print(coldstart.HEADER, file=sys.stderr)
    return coldstart.measure(binaries, args.runs, base, ready["endpoint"], progress)


def section_gateway(args, ready):
    gateway = f"{ready['gateway']}/health"
    furl = f"{ready['lambda']}/lambda-url/health/health"
    for url in (gateway, furl):
        status, _ = http("GET", url)
        if status != 200:
            raise SystemExit(f"GET {url}: {status}")
    say(f"gateway vs function URL: GET /health, {args.connections} connections, {args.rounds} rounds A B")
    a, b = [], []
    for _ in range(args.rounds):
        a.append(wrk(args, gateway, "gateway"))
        b.append(wrk(args, furl, "function-url"))
    ga, fb = mean_of(a), mean_of(b)
    return {
        "function": "health",
        "gateway_url": gateway,
        "function_url": furl,
        "connections": args.connections,
        "threads": args.threads,
        "duration_s": args.duration,
        "build": f"{args.stack_build} (devstack and functions)",
        "rounds": {"gateway": a, "function_url": b},
        "gateway": ga,
        "function_url_mean": fb,
        "rps_ratio": ga["rps"] / fb["rps"] if fb["rps"] else None,
        "p50_ratio": ga["p50_ms"] / fb["p50_ms"] if fb["p50_ms"] else None,
        "p99_ratio": ga["p99_ms"] / fb["p99_ms"] if fb["p99_ms"] else None,
    }


def create_product(args, ready, admin, stock):
    status, body = http(
        "POST",
        f"{ready['gateway']}/products",
        {"name": "Bench gear", "description": "make bench", "category": "bench", "price_cents": 100, "stock": stock},
        admin,
    )
    if status != 201:
        raise SystemExit(f"POST /products: {status} {body}")
    return body["id"]


def section_cache(args, ready, admin):
    pid = create_product(args, ready, admin, 1000)
    url = f"{ready['gateway']}/products/{pid}"
    http("GET", url)
    say(f"cached vs uncached: GET /products/{{id}}, {args.connections} connections")
    cached = wrk(args, url, "cached")
    devstack(args, ["fault", "redis", "down"])
    try:
        uncached = wrk(args, url, "uncached")
    finally:
        devstack(args, ["fault", "clear"], check=False)  # also starts Redis again
    # The functions' cache breakers stay open a while after Redis is back (reads go to the
    # table): wait until a read is a Redis hit again, so the next sections see the cache.
    back_after = wait_for_cache_hit(ready, url)
    say(f"cache serving again {back_after:.1f} s after Redis came back")
    return {
        "url": url,
        "cached": cached,
        "uncached": uncached,
        "rps_ratio": cached["rps"] / uncached["rps"] if uncached["rps"] else None,
    }


def redis_hits(ready):
    """Redis's `keyspace_hits` (INFO stats), None when redis-cli cannot read it."""
    out = subprocess.run(["redis-cli", "-p", str(ready["redis_port"]), "INFO", "stats"],
                         capture_output=True, text=True)
    m = re.search(r"^keyspace_hits:(\d+)", out.stdout, re.M)
    return int(m.group(1)) if m else None


def wait_for_cache_hit(ready, url, deadline_s=60.0):
    """Reads `url` until one read makes Redis count a hit; the seconds that took. Raises after
    `deadline_s`."""
    started = time.perf_counter()
    while time.perf_counter() - started < deadline_s:
        before = redis_hits(ready)
        http("GET", url)
        after = redis_hits(ready)
        if before is not None and after is not None and after > before:
            return time.perf_counter() - started
        time.sleep(0.2)
    raise SystemExit(f"GET {url}: no Redis hit within {deadline_s:.0f} s after Redis came back")


def place_and_wait(args, gw, customer, pid):
    """One order of `pid` (tok_visa), then `GET /orders/{id}` every poll_ms until it leaves
    PENDING: (final status, ms from the POST)."""
    started = time.perf_counter()
    status, order = http(
        "POST",
        f"{gw}/orders",
        {"items": [{"product_id": pid, "quantity": 1}], "payment_method": "tok_visa"},
        customer,
        {"Idempotency-Key": str(uuid.uuid4())},
    )
    if status != 201:
        return f"POST {status}", None
    deadline = started + args.saga_timeout
    final = "PENDING"
    while time.perf_counter() < deadline:
        _, got = http("GET", f"{gw}/orders/{order['id']}", token=customer)
        final = (got or {}).get("status", "?")
        if final != "PENDING":
            break
        time.sleep(args.poll_ms / 1000)
    elapsed = (time.perf_counter() - started) * 1000
    if final == "PENDING":
        final = f"PENDING after {args.saga_timeout:.0f} s"
    return final, elapsed


def section_saga(args, ready, admin):
    gw = ready["gateway"]
    status, user = http("POST", f"{gw}/users", {"name": "Bench buyer", "email": f"bench-{uuid.uuid4().hex}@example.com"}, admin)
    if status != 201:
        raise SystemExit(f"POST /users: {status} {user}")
    customer = token(args, user["id"], "customer")
    pid = create_product(args, ready, admin, args.orders * 2 + 10)
    # The first order meets every saga function without an instance (cargo lambda watch starts
    # one on demand): timed and reported apart, not one of the measured orders.
    first_status, first_ms = place_and_wait(args, gw, customer, pid)
    say(f"saga: first order (cold instances): {first_status} in {first_ms or 0:.0f} ms")
    say(f"saga: {args.orders} orders, POST /orders -> CONFIRMED (poll every {args.poll_ms} ms)")
    latencies, outcomes = [], {}
    for _ in range(args.orders):
        final, elapsed = place_and_wait(args, gw, customer, pid)
        outcomes[final] = outcomes.get(final, 0) + 1
        if final == "CONFIRMED":
            latencies.append(elapsed)
    result = {"orders": args.orders, "poll_ms": args.poll_ms, "outcomes": outcomes, "latencies_ms": latencies,
              "first_order": {"status": first_status, "ms": first_ms}}
    if latencies:
        result["p50_ms"] = statistics.median(latencies)
        result["p99_ms"] = coldstart.percentile(latencies, 99)
        say(f"saga: p50 {result['p50_ms']:.0f} ms  p99 {result['p99_ms']:.0f} ms  {outcomes}")
    return result


def section_load(args, ready):
    if devstack(args, ["load", "--help"], check=False).returncode != 0:
        say("load: `devstack load` is not there; skipped")
        return {"skipped": "devstack has no `load` subcommand"}
    out_file = os.path.join(args.out, "load.json")
    say(f"load: devstack load --scenario get-product --rate {args.load_rate} --duration {args.load_duration}")
    env = {**os.environ, "DEVSTACK_GATEWAY": ready["gateway"]}
    run = subprocess.run(
        [args.devstack, "load", "--scenario", "get-product", "--rate", str(args.load_rate),
         "--duration", str(args.load_duration), "--json", out_file],
        env=env, capture_output=True, text=True,
    )
    sys.stderr.write(run.stdout[-2000:])
    try:
        with open(out_file) as f:
            result = json.load(f)
    except (OSError, ValueError) as e:
        return {"failed": f"exit {run.returncode}: {e}: {run.stderr.strip()[-500:]}"}
    result["exit_code"] = run.returncode
    return result


# --- targets, table, machine ----------------------------------------------------------------


def verdict(ok):
    return "PASS" if ok else "MISS"


def targets(results):
    out = []
    cold = results.get("coldstart") or {}
    floor = cold.get("sdk-floor")
    if floor and "first_ms" in floor:
        f_first, f_rss = floor["first_ms"]["median"], floor["rss_kib"]["median"]
        for name, r in cold.items():
            if name in REFERENCES:
                continue
            if "first_ms" not in r:
                out.append({"target": f"{name} cold start", "measured": None, "limit": None, "verdict": "MISS", "note": r.get("error")})
                continue
            ratio = r["first_ms"]["median"] / f_first
            out.append({"target": f"{name} first response / sdk-floor", "measured": ratio, "limit": f"<= {FIRST_RESPONSE_MAX}",
                        "verdict": verdict(ratio <= FIRST_RESPONSE_MAX),
                        "note": f"{r['first_ms']['median']:.1f} vs {f_first:.1f} ms"})
            ratio = r["rss_kib"]["median"] / f_rss
            out.append({"target": f"{name} peak RSS / sdk-floor", "measured": ratio, "limit": f"<= {PEAK_RSS_MAX}",
                        "verdict": verdict(ratio <= PEAK_RSS_MAX),
                        "note": f"{r['rss_kib']['median'] / 1024:.1f} vs {f_rss / 1024:.1f} MB"})
    gw = results.get("gateway") or {}
    if gw.get("rps_ratio") is not None:
        out.append({"target": "gateway req/s / function URL", "measured": gw["rps_ratio"], "limit": f">= {GATEWAY_MIN}",
                    "verdict": verdict(gw["rps_ratio"] >= GATEWAY_MIN),
                    "note": f"{gw['gateway']['rps']:.0f} vs {gw['function_url_mean']['rps']:.0f} req/s"})
    saga = results.get("saga") or {}
    if "p50_ms" in saga:
        out.append({"target": "saga POST -> CONFIRMED p50 (ms)", "measured": saga["p50_ms"], "limit": f"<= {SAGA_P50_MAX_MS:.0f}",
                    "verdict": verdict(saga["p50_ms"] <= SAGA_P50_MAX_MS),
                    "note": f"{saga['p50_ms'] / SAGA_P50_MAX_MS:.2f}x the limit"})
    elif "saga" in results:
        out.append({"target": "saga POST -> CONFIRMED p50 (ms)", "measured": None, "limit": f"<= {SAGA_P50_MAX_MS:.0f}",
                    "verdict": "MISS", "note": f"no order confirmed: {saga.get('outcomes')}"})
    return out


def machine(args):
    def run(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return None

    cpu = None
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), None)
    except OSError:
        pass
    cpu = cpu or run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p'"]) or platform.processor()
    dirty = run(["git", "status", "--porcelain", "--untracked-files=no"])
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "os": platform.platform(),
        "rustc": run(["rustc", "-V"]),
        "git_commit": run(["git", "rev-parse", "HEAD"]),
        "git_dirty": bool(dirty),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "loadavg_at_start": os.getloadavg(),
    }


def fmt(v, spec=".2f"):
    return "-" if v is None else format(v, spec)


def table(results):
    lines = []
    m = results["machine"]
    lines.append(f"make bench  {m['date']}  {m['cpu']} ({m['cores']} cores)  {m['kernel']}  {m['rustc']}  {(m['git_commit'] or '')[:12]}{' (dirty)' if m['git_dirty'] else ''}")
    cold = results.get("coldstart")
    if cold:
        lines.append("")
        lines.append(f"Cold start, release build, {results['config']['runs']} runs each (medians; first p90 too):")
        lines.append(coldstart.HEADER)
        for name, r in cold.items():
            lines.append(coldstart.row(name, r))
        lines.append("Events:")
        for name, r in cold.items():
            lines.append(f"  {name:<20} {r['event']}")
    gw = results.get("gateway")
    if gw:
        lines.append("")
        lines.append(f"Gateway vs cargo-lambda function URL, GET /health, {gw['connections']} connections, {gw['build']}, mean of {len(gw['rounds']['gateway'])} interleaved rounds:")
        lines.append(f"{'':<14} {'req/s':>9} {'p50':>9} {'p99':>9} {'non-2xx':>8}")
        for label, r in (("gateway", gw["gateway"]), ("function URL", gw["function_url_mean"])):
            lines.append(f"{label:<14} {r['rps']:>9.0f} {r['p50_ms']:>7.2f}ms {r['p99_ms']:>7.2f}ms {r['non_2xx']:>8}")
        lines.append(f"{'ratio':<14} {fmt(gw['rps_ratio']):>9} {fmt(gw['p50_ratio']):>9} {fmt(gw['p99_ratio']):>9}")
    cache = results.get("cache")
    if cache:
        lines.append("")
        lines.append("Cached vs uncached GET /products/{id} through the gateway:")
        lines.append(f"{'':<14} {'req/s':>9} {'p50':>9} {'p99':>9} {'non-2xx':>8}")
        for label in ("cached", "uncached"):
            r = cache[label]
            lines.append(f"{label:<14} {r['rps']:>9.0f} {r['p50_ms']:>7.2f}ms {r['p99_ms']:>7.2f}ms {r['non_2xx']:>8}")
        lines.append(f"cached/uncached throughput: {fmt(cache['rps_ratio'], '.1f')}x")
    saga = results.get("saga")
    if saga:
        lines.append("")
        lines.append(f"Saga POST /orders -> CONFIRMED, {saga['orders']} orders one after another (poll {saga['poll_ms']} ms): "
                     f"p50 {fmt(saga.get('p50_ms'), '.0f')} ms, p99 {fmt(saga.get('p99_ms'), '.0f')} ms; {saga['outcomes']}")
        first = saga.get("first_order") or {}
        lines.append(f"  before them, a first order (the saga functions' first instances): {first.get('status')} "
                     f"in {fmt(first.get('ms'), '.0f')} ms")
    load = results.get("load")
    if load:
        lines.append("")
        if "skipped" in load or "failed" in load:
            lines.append(f"Load: {load.get('skipped') or load.get('failed')}")
        else:
            lat = load.get("latency_ms", {})
            lines.append(f"Load ({load.get('scenario')}, {load.get('rate')} req/s for {load.get('duration_s')} s): "
                         f"{fmt(load.get('throughput_rps'), '.0f')} req/s, p50 {fmt(lat.get('p50'))} ms, p99 {fmt(lat.get('p99'))} ms, "
                         f"p99.9 {fmt(lat.get('p999'))} ms, ok {load.get('ok')}/{load.get('sent')}, errors {load.get('errors')}")
    lines.append("")
    lines.append("Targets (issue 13):")
    for t in results["targets"]:
        lines.append(f"  {t['verdict']:<4}  {t['target']:<44} {fmt(t['measured']):>8}  (target {t['limit']}; {t['note']})")
    misses = [t for t in results["targets"] if t["verdict"] == "MISS"]
    lines.append(f"{len(misses)} MISS of {len(results['targets'])} targets." if misses else f"All {len(results['targets'])} targets PASS.")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ready", required=True, help="the stack's ready file (.devstack/ready-<stack>.json)")
    p.add_argument("--env-file", required=True, help="the stack's functions environment (.devstack/functions-<stack>.env)")
    p.add_argument("--devstack", required=True, help="the devstack binary")
    p.add_argument("--release-dir", required=True, help="where the release binaries are")
    p.add_argument("--functions", nargs="+", required=True, help="function binary names")
    p.add_argument("--out", default="target/bench")
    p.add_argument("--stack-build", choices=["release", "debug"], default="release",
                   help="the profile the stack (devstack and its functions) was built with")
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    p.add_argument("--warmup", type=int, default=2, help="seconds of wrk warm-up before each run")
    p.add_argument("--rounds", type=int, default=2, help="gateway/function-URL rounds (A B each)")
    p.add_argument("--orders", type=int, default=30)
    p.add_argument("--poll-ms", type=int, default=20)
    p.add_argument("--saga-timeout", type=float, default=30.0, help="seconds an order may take")
    p.add_argument("--load-rate", type=int, default=300)
    p.add_argument("--load-duration", type=int, default=20)
    p.add_argument("--sections", default="coldstart,gateway,cache,saga,load")
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    with open(args.ready) as f:
        ready = json.load(f)
    sections = args.sections.split(",")
    results = {
        "machine": machine(args),
        "config": {k: v for k, v in vars(args).items() if k not in ("functions",)},
        "stack": {k: ready.get(k) for k in ("stack_name", "gateway", "lambda", "endpoint")},
    }
    admin = token(args, "bench-admin", "admin")
    if "coldstart" in sections:
        results["coldstart"] = section_coldstart(args, ready)
    if "gateway" in sections:
        results["gateway"] = section_gateway(args, ready)
    if "cache" in sections:
        results["cache"] = section_cache(args, ready, admin)
    if "saga" in sections:
        results["saga"] = section_saga(args, ready, admin)
    if "load" in sections:
        results["load"] = section_load(args, ready)
    results["targets"] = targets(results)
    text = table(results)
    results["table"] = text
    with open(os.path.join(args.out, "bench.json"), "w") as f:
        json.dump(results, f, indent=2)
    with open(os.path.join(args.out, "bench.txt"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(args.out, "bench.svg"), "w") as f:
        f.write(chart.svg(results))
    print(text)
    print(f"\nwritten: {args.out}/bench.json, {args.out}/bench.svg, {args.out}/bench.txt")


if __name__ == "__main__":
    main()
