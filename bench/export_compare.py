"""Are two versions of the code exporting the same bytes? (issue 29 item 7: the streaming writers
must not change a file.) Runs `manage.py export_datasets` of each checkout on the same database,
same study, cut-off and snapshot time, every dataset in every format, and compares the files:
byte for byte, except the XLSX workbook, whose parts are compared one by one leaving out
docProps/core.xml (openpyxl stamps it with the clock).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv/bin/python bench/export_compare.py \\
        --before /path/to/main --after . --study synthetic --cutoff 2026-10-31

Prints one line per file that differs (or is missing on one side) and a summary; exits 1 when
anything differs. Each run also prints its wall time and its peak RSS (the `before` one is the old
code's export); `--parallel` runs both at once.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from _common import child_env


def start(checkout: Path, out: Path, args: argparse.Namespace) -> tuple[subprocess.Popen[str], float]:
    env = child_env(os.environ.get("DATABASE_URL", "").rsplit("/", 1)[-1] or "trialsite")
    if args.code_version:  # Dataset-JSON and define.xml carry it: the same for both checkouts
        env["TRIALSITE_CODE_VERSION"] = args.code_version
    errors = tempfile.TemporaryFile("w+")  # noqa: SIM115  (a file, not a pipe: closed by finish)
    started = time.monotonic()
    process = subprocess.Popen(
        [
            sys.executable,
            str(checkout / "manage.py"),
            "export_datasets",
            f"--study={args.study}",
            f"--cutoff={args.cutoff}",
            f"--snapshot={args.snapshot}",
            f"--formats={args.formats}",
            f"--out={out}",
        ],
        env=env,
        cwd=checkout,
        text=True,
        stdout=subprocess.DEVNULL,
        stderr=errors,
    )
    process.errors = errors  # type: ignore[attr-defined]
    return process, started


def finish(checkout: Path, process: subprocess.Popen[str], started: float) -> tuple[float, float]:
    """Wait for an export started by `start`: its wall time and its peak RSS in MiB (wait4)."""
    _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    with process.errors:  # type: ignore[attr-defined]
        process.errors.seek(0)  # type: ignore[attr-defined]
        errors = process.errors.read()  # type: ignore[attr-defined]
    if process.returncode not in (0, 1):  # 1 = conformance errors: the files are written all the same
        raise SystemExit(f"{checkout}: {errors[-2000:]}")
    return time.monotonic() - started, usage.ru_maxrss / 1024


def export(checkout: Path, out: Path, args: argparse.Namespace) -> float:
    wall, peak = finish(checkout, *start(checkout, out, args))
    print(f"  {checkout}: peak RSS {peak:.0f} MB")
    return wall


def digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as stored:
        for piece in iter(lambda: stored.read(1 << 20), b""):
            sha.update(piece)
    return sha.hexdigest()


def same_workbook(a: Path, b: Path) -> bool:
    with zipfile.ZipFile(a) as left, zipfile.ZipFile(b) as right:
        names = [n for n in left.namelist() if n != "docProps/core.xml"]
        if names != [n for n in right.namelist() if n != "docProps/core.xml"]:
            return False
        return all(left.read(n) == right.read(n) for n in names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True, help="checkout of the old code")
    parser.add_argument("--after", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--study", default="synthetic")
    parser.add_argument("--cutoff", default="2026-10-31")
    parser.add_argument("--snapshot", default="", help="ISO instant with zone; default: now (the same for both)")
    parser.add_argument("--formats", default="csv,xpt,json,xlsx")
    parser.add_argument("--parallel", action="store_true", help="run both exports at the same time")
    parser.add_argument(
        "--code-version",
        default="export-compare",
        help="TRIALSITE_CODE_VERSION of both runs (Dataset-JSON and define.xml name it); '' = each checkout's own",
    )
    args = parser.parse_args()
    args.snapshot = args.snapshot or datetime.now(UTC).replace(microsecond=0).isoformat()
    with tempfile.TemporaryDirectory(prefix="export-compare-") as scratch:
        before, after = Path(scratch) / "before", Path(scratch) / "after"
        if args.parallel:  # both at once: half the wall time on a machine with cores to spare
            runs = [(c, start(c, o, args)) for c, o in ((args.before.resolve(), before), (args.after.resolve(), after))]
            for label, (checkout, (process, started)) in zip(("before", "after "), runs, strict=True):
                wall, peak = finish(checkout, process, started)
                print(f"{label}: {wall:.1f} s, peak RSS {peak:.0f} MB (run at the same time as the other)")
        else:
            print(f"before: {export(args.before.resolve(), before, args):.1f} s")
            print(f"after:  {export(args.after.resolve(), after, args):.1f} s")
        names = sorted({p.name for p in before.iterdir()} | {p.name for p in after.iterdir()})
        differ = []
        for name in names:
            a, b = before / name, after / name
            if not a.exists() or not b.exists():
                differ.append(f"{name}: only in {'after' if b.exists() else 'before'}")
            elif name.endswith(".xlsx"):
                if not same_workbook(a, b):
                    differ.append(f"{name}: workbook parts differ")
            elif digest(a) != digest(b):
                differ.append(f"{name}: {a.stat().st_size} vs {b.stat().st_size} bytes")
        for line in differ:
            print(line)
        total = sum(p.stat().st_size for p in after.iterdir())
        print(f"{len(names)} files, {total / 2**20:.1f} MB: {len(differ)} differ")
    raise SystemExit(1 if differ else 0)


if __name__ == "__main__":
    main()
