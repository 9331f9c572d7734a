"""Create or update a Hugging Face Space running this app, in one command.

    python scripts/deploy_space.py OWNER/SPACE [--private] [--hardware zero-a10g] [--dry-run]

`huggingface-cli login` (or $HF_TOKEN) first. The Space gets exactly the files the app needs (app, library, demo,
assets, the MELD transcripts the Inspect tab scores, requirements, README, licences), taken from what git tracks, so
no virtual environment, cache, training run or test ever leaves the machine. The upload goes through the Hub's
own `upload_folder`, which stores binary files (checkpoints, videos, pictures) through Xet/LFS as the Hub requires:
a `git push` of this repository is refused, because its history holds binaries committed as plain blobs.

--dry-run works offline: it lists every file with its size, then checks the README's front matter against the
rules the Hub enforces on push and the ones a ZeroGPU Space needs, and exits with 1 naming each problem.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
# What a Space runs: the entry point, the library and the UI, the shipped models and examples, the CSVs the
# Inspect tab offers, the apt packages and pip pins, the README (front matter included) and the licences.
SPACE_PATHS: tuple[str, ...] = ("app.py", "spikemo", "demo", "assets", "data/meld", "requirements.txt",
                                "packages.txt", "README.md", "LICENSE", ".gitattributes")
# Free accounts may host a Gradio Space only on ZeroGPU (CPU-basic Gradio Spaces need a paid plan).
DEFAULT_HARDWARE = "zero-a10g"
SHORT_DESCRIPTION_MAX = 60  # characters; the Hub refuses a push with a longer one
# ZeroGPU runs Python 3.10.13 or 3.12.12 only, and this code needs 3.11 or later.
SUPPORTED_PYTHON = ("3.12", "3.12.12")
HUB_COLOURS = ("red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray")


@dataclass(frozen=True)
class SpaceFile:
    path: str  # relative to the repository root, with forward slashes
    size: int  # bytes


def space_files(root: Path = REPO_ROOT) -> list[SpaceFile]:
    """The files under SPACE_PATHS that git tracks or would track, sorted: nothing it ignores goes up."""
    command = ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *SPACE_PATHS]
    listed = subprocess.run(command, cwd=root, check=True, capture_output=True).stdout.decode().split("\0")
    return [SpaceFile(path, (root / path).stat().st_size) for path in sorted(p for p in listed if p)
            if (root / path).is_file()]


def front_matter(readme: Path) -> dict:
    """The YAML block at the top of a README (between its first two `---` lines); {} when there is none."""
    text = readme.read_text(encoding="utf-8")
    match = re.match(r"---\n(.*?)\n---\n", text, re.DOTALL)
    if match is None:
        return {}
    return yaml.safe_load(match.group(1)) or {}


def pinned_version(requirements: Path, package: str) -> str | None:
    """The `package==X` pin of a requirements file, or None."""
    for line in requirements.read_text(encoding="utf-8").splitlines():
        name, _, version = line.split("#")[0].strip().partition("==")
        if name.lower() == package.lower() and version:
            return version.strip()
    return None


def front_matter_problems(meta: dict, files: list[str], gradio_pin: str | None) -> list[str]:
    """What the Hub (or a ZeroGPU Space's build) would refuse in the front matter `meta`, for an upload of
    `files`; [] when it would pass."""
    problems = []
    for key in ("title", "sdk", "app_file", "sdk_version", "python_version", "short_description"):
        if not meta.get(key):
            problems.append(f"front matter: `{key}` is missing")
    description = str(meta.get("short_description", ""))
    if len(description) > SHORT_DESCRIPTION_MAX:
        problems.append(f"front matter: `short_description` has {len(description)} characters; the Hub allows "
                        f"at most {SHORT_DESCRIPTION_MAX}")
    if meta.get("sdk") != "gradio":
        problems.append(f"front matter: `sdk` is {meta.get('sdk')!r}; this app (and ZeroGPU) needs 'gradio'")
    if str(meta.get("python_version")) not in SUPPORTED_PYTHON:
        problems.append(f"front matter: `python_version` is {meta.get('python_version')!r}; ZeroGPU runs 3.10 or "
                        "3.12 only and this code needs 3.11 or later, so it must be \"3.12\" (quoted: 3.10 reads "
                        "as a number)")
    if gradio_pin and str(meta.get("sdk_version")) != gradio_pin:
        problems.append(f"front matter: `sdk_version` {meta.get('sdk_version')!r} differs from the pinned "
                        f"gradio=={gradio_pin} in requirements.txt")
    if meta.get("app_file") and meta["app_file"] not in files:
        problems.append(f"front matter: `app_file` {meta['app_file']!r} is not among the uploaded files")
    for key in ("colorFrom", "colorTo"):
        if key in meta and meta[key] not in HUB_COLOURS:
            problems.append(f"front matter: `{key}` {meta[key]!r} is not one of {', '.join(HUB_COLOURS)}")
    for entry in meta.get("preload_from_hub", []):
        fields = str(entry).split()
        if not 1 <= len(fields) <= 3 or fields[0].count("/") != 1:
            problems.append(f"front matter: `preload_from_hub` entry {entry!r} is not "
                            "'owner/repo [file,file,...] [revision]'")
    return problems


def check(root: Path = REPO_ROOT) -> tuple[list[SpaceFile], list[str]]:
    """The files a deploy would upload and the problems that would make the Hub refuse them."""
    files = space_files(root)
    names = [f.path for f in files]
    problems = [f"{path} is missing: a Space needs it" for path in ("app.py", "README.md", "requirements.txt")
                if path not in names]
    if "README.md" in names:
        meta = front_matter(root / "README.md")
        if not meta:
            problems.append("README.md has no front matter (the `---` block a Space is configured by)")
        else:
            problems += front_matter_problems(meta, names, pinned_version(root / "requirements.txt", "gradio"))
    return files, problems


def human_size(size: int) -> str:
    if size < 1024**2:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024**2:.1f} MB"


def deploy(repo_id: str, files: list[SpaceFile], private: bool, hardware: str, root: Path = REPO_ROOT) -> str:
    """Create the Space (if it does not exist) and upload `files` as one commit; files the Space holds that are
    not among them are deleted, so the Space mirrors this tree. Returns the Space's URL."""
    from huggingface_hub import HfApi

    api = HfApi()
    url = api.create_repo(repo_id, repo_type="space", space_sdk="gradio", space_hardware=hardware,
                          private=private, exist_ok=True)
    api.upload_folder(repo_id=repo_id, repo_type="space", folder_path=root,
                      allow_patterns=[f.path for f in files], delete_patterns=["*"],
                      commit_message="Deploy SpikEmo (scripts/deploy_space.py)")
    return str(url)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Create or update a Hugging Face Space running SpikEmo.")
    parser.add_argument("repo_id", metavar="OWNER/SPACE")
    parser.add_argument("--private", action="store_true", help="create the Space private")
    parser.add_argument("--hardware", default=DEFAULT_HARDWARE,
                        help=f"hardware asked for when the Space is created (default: {DEFAULT_HARDWARE}, ZeroGPU)")
    parser.add_argument("--dry-run", action="store_true",
                        help="list the files and check the front matter; nothing leaves the machine")
    args = parser.parse_args(argv)
    if args.repo_id.count("/") != 1 or not all(args.repo_id.split("/")):
        parser.error(f"the Space must be named OWNER/SPACE, got {args.repo_id!r}")
    files, problems = check()
    if args.dry_run:
        for file in files:
            print(f"{human_size(file.size):>10}  {file.path}")
        print(f"{len(files)} files, {human_size(sum(f.size for f in files))} in all")
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        return 1
    if args.dry_run:
        print("front matter: accepted by the Hub's rules (dry run: nothing uploaded)")
        return 0
    print(f"Space ready: {deploy(args.repo_id, files, args.private, args.hardware)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
