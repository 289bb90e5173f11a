"""The README stays short, its layout table is the tree, its links resolve, its commands exist, its figures are
the generated pages'."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_readme_is_at_most_ten_thousand_characters() -> None:
    assert len(README) <= 10_000


def test_readme_layout_table_names_every_package_and_only_existing_paths() -> None:
    listed = set(re.findall(r"^\| `([\w/]+/)` \|", README, flags=re.MULTILINE))
    packages = {f"{p.parent.relative_to(ROOT).as_posix()}/" for p in ROOT.glob("*/__init__.py")}
    core = {f"{p.parent.relative_to(ROOT).as_posix()}/" for p in (ROOT / "fedkd").glob("*/__init__.py")}

    assert packages | core | {"bench/", "tests/"} <= listed
    assert all((ROOT / path).is_dir() for path in listed)


def test_readme_links_resolve() -> None:
    links = re.findall(r"\]\(((?!https?:)[^)#]+)\)", README)
    assert links and all((ROOT / link).exists() for link in links)


def test_readme_harness_commands_use_flags_the_harness_accepts() -> None:
    commands = [shlex.split(line.split("#")[0]) for line in README.splitlines()
                if line.startswith("python -m simulations.run ")]
    usage = subprocess.run([sys.executable, "-m", "simulations.run", "--help"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout
    flags = {arg for command in commands for arg in command if arg.startswith("--")}
    assert commands and flags and all(flag in usage for flag in flags)


def test_readme_site_kit_commands_are_the_deployment_recipes_which_the_e2e_test_runs() -> None:
    # tests/e2e/test_deployment.py runs the commands of docs/deployment.md; the README repeats some of them.
    recipe = (ROOT / "docs" / "deployment.md").read_text().splitlines()
    commands = [line.split("  #")[0].rstrip() for line in README.splitlines() if line.startswith("fedkd ")]
    assert commands and all(any(step.startswith(c) for step in recipe) for c in commands)


def test_readme_default_case_figures_are_the_generated_pages() -> None:
    summary = json.loads((ROOT / "docs" / "default-case.json").read_text())["summary"]
    student, ce_only = summary["fedkd global student"], summary["CE-only FedAvg student"]
    teacher = summary["mean local teacher"]["mean"]

    expected = (f"ends at {100 * student['mean']:.1f}% ± {100 * student['std']:.1f} over seeds 0-2, against "
                f"{100 * ce_only['mean']:.1f}% ± {100 * ce_only['std']:.1f} for CE-only FedAvg of the same config, "
                f"with the\nsites' own teachers at {100 * teacher:.1f}%")
    assert expected in README


def test_readme_tuned_privacy_gaps_are_the_generated_pages() -> None:
    from pages.privacy_tuned import gap_points

    tuned = json.loads((ROOT / "docs" / "privacy-tuned.json").read_text())["datasets"]
    gaps = {name: gap_points(part["after"], "8.0") for name, part in tuned.items() if "after" in part}

    found = re.search(r"no DP at epsilon 8: ([+-][\d.]+) points on MNIST-1D, ([+-][\d.]+) on Fashion-MNIST", README)
    assert found is not None, "the README's tuned-DP sentence is missing"
    assert found.groups() == (f"{gaps['MNIST-1D']:+.1f}", f"{gaps['Fashion-MNIST']:+.1f}")


def test_readme_public_pool_privacy_gap_is_the_generated_pages() -> None:
    from pages.privacy_tuned import gap_points

    public = json.loads((ROOT / "docs" / "privacy-tuned.json").read_text())["datasets"]["Fashion-MNIST"]["public"]

    found = re.search(r"([+-][\d.]+) with a Fashion-MNIST public pool", README)
    assert found is not None, "the README's public-pool DP sentence is missing"
    assert found.group(1) == f"{gap_points(public, '8.0'):+.1f}"
