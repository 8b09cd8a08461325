"""abtui's benchmark suite: every performance target, its figure, its baseline.

    python bench/run.py [--quick] [--out bench/results.json] [--only ingest,chart]

Each benchmark runs in its own process (a crash or a big heap in one never touches the
next) and prints its figures next to their targets and baselines; ratios are taken within
one run because absolute times drift on shared machines. The JSON file holds everything.
``--quick`` (CI) uses small sizes and finishes in under two minutes on 2 cores.
Exit status: 0 when every benchmark ran (targets missed included), 1 if one failed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import PY, REPO, Figure, fmt, machine  # noqa: E402

BENCHMARKS = ("ingest", "chart", "replay", "memory", "monitor", "reporter_cost", "startup",
              "telemetry", "compare", "flood", "exporter", "leet", "grid_scale")
TIMEOUT_S = {"quick": 110, "full": 900}


def _run_one(name: str, quick: bool, result_path: str) -> None:
    """In the child process: run one benchmark, write its figures as JSON."""
    import importlib

    module = importlib.import_module(name)
    figures: list[Figure] = module.run(quick)
    Path(result_path).write_text(json.dumps([f.to_dict() for f in figures], indent=1))


def _row(f: dict) -> str:
    value = fmt(f["value"], f["unit"])
    verdict = {True: "MET", False: "MISSED", None: "-" if f["target"] else ""}[f["met"]]
    if f["value"] is None:
        verdict = "pending" if f["target"] else "n/a"
    base = ""
    if f["baseline"]:
        base = f"vs {f['baseline']}"
        if f["baseline_value"] is not None:
            base += f" ({fmt(f['baseline_value'])})"
        if f["ratio"] is not None:
            base += f" = {f['ratio']:.3g}x"
    target = f"target {f['target']}" if f["target"] else ""
    return f"  {f['name']:<58} {value:>16}  {target:<36} {verdict:<7} {base}"


def run_suite(quick: bool, only: list[str]) -> dict:
    started = time.time()
    results: dict = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "quick": quick,
        "machine": machine(),
        "benchmarks": {},
    }
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), str(REPO)]),
               PYTHONUNBUFFERED="1")
    for name in only:
        print(f"== {name}", flush=True)
        t0 = time.monotonic()
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
            result_path = fh.name
        entry: dict = {"status": "ok"}
        try:
            proc = subprocess.run(
                [PY, str(HERE / "run.py"), "--one", name, "--result", result_path]
                + (["--quick"] if quick else []),
                env=env, cwd=REPO, capture_output=True, text=True,
                timeout=TIMEOUT_S["quick" if quick else "full"])
            if proc.returncode != 0:
                entry = {"status": "error", "error": (proc.stderr or proc.stdout)[-3000:]}
            else:
                entry["figures"] = json.loads(Path(result_path).read_text())
            if proc.stderr.strip() and entry["status"] == "ok":
                entry["log"] = proc.stderr[-2000:]
        except subprocess.TimeoutExpired:
            entry = {"status": "error", "error": "timed out"}
        finally:
            Path(result_path).unlink(missing_ok=True)
        entry["seconds"] = round(time.monotonic() - t0, 1)
        results["benchmarks"][name] = entry
        if entry["status"] == "ok":
            for f in entry["figures"]:
                print(_row(f), flush=True)
                if f["note"]:
                    print(f"      {f['note']}", flush=True)
            print(f"  ({entry['seconds']} s)", flush=True)
        else:
            print(f"  ERROR: {entry['error'][-1500:]}", flush=True)
    results["seconds"] = round(time.time() - started, 1)
    return results


def summary(results: dict) -> str:
    figures = [f for b in results["benchmarks"].values() for f in b.get("figures", [])]
    with_target = [f for f in figures if f["target"]]
    met = sum(1 for f in with_target if f["met"] is True)
    missed = [f["name"] for f in with_target if f["met"] is False]
    waiting = sum(1 for f in with_target if f["met"] is None)
    failed = [n for n, b in results["benchmarks"].items() if b["status"] != "ok"]
    lines = [f"{len(with_target)} targets: {met} met, {len(missed)} missed, "
             f"{waiting} pending here; {len(failed)} benchmark(s) failed "
             f"({results['seconds']} s in all)"]
    lines += [f"  missed: {m}" for m in missed]
    lines += [f"  failed: {n}" for n in failed]
    return "\n".join(lines)


def markdown(results: dict) -> str:
    """The results as a markdown table (for docs/benchmarks.md)."""
    m = results["machine"]
    out = [f"Measured {results['date']} ({'quick' if results['quick'] else 'full'} run, "
           f"{results['seconds']:.0f} s): {m['cores']} cores ({m['cpu']}), GPU: {m['gpu']}, "
           f"Python {m['python']}, load average at start {m['load_avg_at_start'][0]}.", "",
           "| benchmark | figure | value | target | met | baseline (value) | ratio |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, bench in results["benchmarks"].items():
        if bench["status"] != "ok":
            out.append(f"| {name} | failed | | | | | |")
            continue
        for f in bench["figures"]:
            met = {True: "yes", False: "**no**", None: "pending" if f["target"] else ""}[f["met"]]
            base = f["baseline"] + (f" ({fmt(f['baseline_value'])})"
                                    if f["baseline_value"] is not None else "")
            rat = "" if f["ratio"] is None else f"{f['ratio']:.3g}x"
            out.append(f"| {name} | {f['name']} | {fmt(f['value'], f['unit'])} | {f['target']} "
                       f"| {met} | {base} | {rat} |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes (CI): under two minutes")
    p.add_argument("--out", default=str(HERE / "results.json"), help="where the JSON goes")
    p.add_argument("--only", default="", help=f"comma-separated subset of {','.join(BENCHMARKS)}")
    p.add_argument("--markdown", metavar="FILE", help="also write the table as markdown")
    p.add_argument("--from-json", metavar="FILE", help="only render --markdown from a results file")
    p.add_argument("--one", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one:
        _run_one(args.one, args.quick, args.result)
        return 0
    if args.from_json:
        text = markdown(json.loads(Path(args.from_json).read_text()))
        Path(args.markdown).write_text(text) if args.markdown else print(text)
        return 0
    only = [n.strip() for n in args.only.split(",") if n.strip()] or list(BENCHMARKS)
    unknown = [n for n in only if n not in BENCHMARKS]
    if unknown:
        p.error(f"unknown benchmark(s): {', '.join(unknown)}")
    results = run_suite(args.quick, only)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    if args.markdown:
        Path(args.markdown).write_text(markdown(results))
    print(summary(results))
    print(f"results: {out}")
    return 1 if any(b["status"] != "ok" for b in results["benchmarks"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
