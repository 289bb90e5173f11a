"""How big and how slow a fresh ``pip install`` of fedkd is, with and without its extras.

Each variant gets a throwaway virtual environment in a temporary folder:
``pip install torch==2.13.0`` first (the same for every variant, not timed into
fedkd's figure), then ``pip install -e <source>[extras]``, timed. Sizes are the
environment's bytes on disk after each step. ``--before REV`` adds the variant
"the project at git revision REV, no extras" (the install before the extras split).
Nothing is cached between variants (``--no-cache-dir``), so each pays its downloads.

    python bench/install_size.py --before 91bc589         # writes bench/results/install_size.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "install_size.json"
TORCH = "torch==2.13.0"


def folder_bytes(path: Path) -> int:
    """Bytes of every regular file under ``path`` (links not followed)."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _pip(venv: Path, *args: str) -> float:
    started = time.monotonic()
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--no-cache-dir", "-q", *args],
                   check=True)
    return time.monotonic() - started


def measure(source: Path, extras: str, work: Path) -> dict[str, float | str]:
    """Install torch, then fedkd from ``source`` with ``extras`` (``""`` for none); sizes in MB, times in s."""
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    torch_seconds = _pip(venv, TORCH)
    torch_mb = folder_bytes(venv) / 1e6
    target = f"{source}[{extras}]" if extras else str(source)
    fedkd_seconds = _pip(venv, "-e", target)
    total_mb = folder_bytes(venv) / 1e6
    shutil.rmtree(venv)
    return {
        "target": target,
        "torch_install_s": round(torch_seconds, 1),
        "venv_with_torch_mb": round(torch_mb, 1),
        "fedkd_install_s": round(fedkd_seconds, 1),
        "venv_total_mb": round(total_mb, 1),
        "added_by_fedkd_mb": round(total_mb - torch_mb, 1),
    }


def main(argv: list[str] | None = None) -> int:
    """Measure the variants, print each, and save them all as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="", help="git revision of the install to compare with (no extras)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    results: dict[str, dict[str, float | str]] = {}
    with tempfile.TemporaryDirectory(prefix="fedkd-install-") as temporary:
        work = Path(temporary)
        variants: list[tuple[str, Path, str]] = [("base", ROOT, ""), ("all-extras", ROOT, "text,proxy,onnx")]
        if args.before:
            old = work / "before-src"
            old.mkdir()
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.before], check=True,
                                     capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
            variants.insert(0, (f"before ({args.before})", old, ""))
        for name, source, extras in variants:
            results[name] = measure(source, extras, work)
            print(name, json.dumps(results[name]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"python": sys.version.split()[0], "variants": results}, indent=2) + "\n")
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
