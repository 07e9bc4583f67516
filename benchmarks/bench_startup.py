"""CLI start-up: `kino-catalog --help` and `search --count`, against `python -c pass`.

DESIGN §8 targets: ``--help`` < 150 ms, ``search --count`` on a 100k catalogue
< 350 ms (warm).  Each command runs as a fresh process (``python -m
kino_catalog``, as the ``kino-catalog`` script does), in rounds that run
every command once, so load that comes and goes on a shared machine hits
them alike; the floor (``python -c pass``) is measured in the same rounds.
Figures are wall-clock medians; the load average is printed with them.

    python benchmarks/bench_startup.py --db /path/to/100k.db
    python benchmarks/bench_startup.py --db 100k.db --checkout /other/checkout   # "before"

``--checkout`` times another copy of the code with this interpreter (its
dependencies); the example catalogue is synced from that checkout's
``examples/`` into a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall-clock and CPU (user + system) seconds of one run of ``cmd``.

    CPU time is what the process itself spent: on a loaded machine it moves
    much less than the wall clock, which includes waiting for a core.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.decode()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def _imports(cmd: list[str], cwd: Path, env: dict[str, str]) -> list[str]:
    """The modules a command imports (python -X importtime)."""
    done = subprocess.run(
        [cmd[0], "-X", "importtime", *cmd[1:]], cwd=cwd, env=env, capture_output=True, check=False
    )
    names = []
    for line in done.stderr.decode().splitlines():
        if line.startswith("import time:") and "|" in line and "imported package" not in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                names.append(name)
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--db", required=True, help="a synced catalogue (e.g. 100k frames)")
    parser.add_argument("--query", default="lora:add_detail", help="the search --count query")
    parser.add_argument("--runs", type=int, default=15, help="rounds (after 2 warm-up rounds)")
    parser.add_argument(
        "--checkout",
        type=Path,
        default=Path(__file__).resolve().parent.parent,
        help="the checkout whose code is timed [default: this one]",
    )
    args = parser.parse_args()
    checkout = args.checkout.resolve()
    env = {k: v for k, v in os.environ.items() if k not in ("KINO_CATALOG_DB", "CI")}
    env["PYTHONPATH"] = str(checkout)
    py = sys.executable
    kc = [py, "-m", "kino_catalog"]
    with tempfile.TemporaryDirectory() as tmp:
        examples = Path(tmp) / "examples"
        shutil.copytree(checkout / "examples" / "library", examples)
        example_db = str(Path(tmp) / "examples.db")
        subprocess.run(
            [*kc, "--db", example_db, "sync", str(examples)],
            cwd=checkout,
            env=env,
            capture_output=True,
            check=True,
        )
        commands = {
            "python -c pass (floor)": [py, "-c", "pass"],
            "python -c 'import click'": [py, "-c", "import click"],
            # what any command that opens a catalogue must load: the models use the ORM
            "python -c 'import sqlalchemy.orm'": [py, "-c", "import sqlalchemy.orm"],
            "kino-catalog --help": [*kc, "--help"],
            "search --help": [*kc, "search", "--help"],
            f"search {args.query} --count (14 frames)": [
                *kc,
                "--db",
                example_db,
                "search",
                args.query,
                "--count",
            ],
            f"search {args.query} --count ({Path(args.db).name})": [
                *kc,
                "--db",
                args.db,
                "search",
                args.query,
                "--count",
            ],
        }
        load_before = os.getloadavg()
        times: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        for round_ in range(args.runs + 2):
            for name, cmd in commands.items():
                elapsed, spent = _timed(cmd, checkout, env)
                if round_ >= 2:  # warm-up rounds: page cache, .pyc files
                    times[name].append(elapsed)
                    cpu[name].append(spent)
        load_after = os.getloadavg()
        help_imports = _imports([*kc, "--help"], checkout, env)
        count_imports = _imports(commands[list(commands)[-1]], checkout, env)

    floor = statistics.median(times["python -c pass (floor)"])
    cpu_floor = statistics.median(cpu["python -c pass (floor)"])
    print(f"checkout: {checkout}")
    print(f"python: {sys.version.split()[0]}  runs: {args.runs}  cpus: {os.cpu_count()}")
    print(
        "load average before: {:.2f} {:.2f} {:.2f}  after: {:.2f} {:.2f} {:.2f}".format(
            *load_before, *load_after
        )
    )
    print(
        f"{'command':<48} {'wall median':>11} {'min':>7} {'p90':>7} {'x floor':>7}"
        f" {'CPU median':>10} {'x floor':>7}"
    )
    for name, values in times.items():
        values.sort()
        median = statistics.median(values)
        p90 = values[min(len(values) - 1, int(0.9 * len(values)))]
        spent = statistics.median(cpu[name])
        print(
            f"{name:<48} {median * 1000:>9.0f}ms {values[0] * 1000:>5.0f}ms "
            f"{p90 * 1000:>5.0f}ms {median / floor:>6.1f}x {spent * 1000:>8.0f}ms "
            f"{spent / cpu_floor:>6.1f}x"
        )
    for label, names in (("--help", help_imports), ("search --count", count_imports)):
        heavy = [m for m in ("sqlalchemy", "alembic", "rich", "starlette") if m in names]
        own = sum(name.startswith("kino_catalog") for name in names)
        print(
            f"{label}: {len(names)} modules imported ({own} of kino_catalog); "
            f"of sqlalchemy/alembic/rich/starlette: {', '.join(heavy) or 'none'}"
        )


if __name__ == "__main__":
    main()
