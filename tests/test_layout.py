"""The project's shape: spikemo/ never imports Gradio, its layers depend one way, train/ drives only the library,
functions and UI modules stay short, and the code passes ruff.

The layers, lowest first (spikemo/__init__.py describes them): a module may import its own subpackage and any
lower layer, never a higher one or a sibling of its own rank.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CORE_MODULES = {"errors", "runtime", "paths", "integrity", "serialization"}
LAYER_RANK = {
    "core": 0,
    "data": 1,
    "model": 2,
    "text": 3,
    "training": 4,
    "video": 5,
    "viz": 5,
    "bench": 6,
    "cli": 7,
}
FORBIDDEN_IN_LIBRARY = ("gradio", "gradio_client", "spaces", "demo", "train", "tests", "scripts")


def layer_of(module: str) -> str:
    """The layer of a dotted spikemo module name ("spikemo.data.meld" -> "data", "spikemo.paths" -> "core")."""
    parts = module.split(".")
    if parts[0] != "spikemo":
        raise ValueError(f"{module} is not a spikemo module")
    if len(parts) == 1 or parts[1] in CORE_MODULES:
        return "core"
    if parts[1] == "__main__":
        return "cli"
    if parts[1] not in LAYER_RANK:
        raise ValueError(f"{module} is in no known layer: add its subpackage to LAYER_RANK and spikemo/__init__.py")
    return parts[1]


def may_import(importer: str, imported: str) -> bool:
    """Whether spikemo module `importer` may import spikemo module `imported`."""
    source, target = layer_of(importer), layer_of(imported)
    return source == target or LAYER_RANK[target] < LAYER_RANK[source]


def module_name(path: Path) -> str:
    relative = path.relative_to(REPO).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, at the top or inside a function; `from a import b` counts a.b when b is a
    module. The project uses absolute imports only (a relative one fails here)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.relative_to(REPO)}:{node.lineno} uses a relative import"
            found.add(node.module)
            folder = REPO / node.module.replace(".", "/")
            found.update(
                f"{node.module}.{alias.name}"
                for alias in node.names
                if (folder / f"{alias.name}.py").is_file() or (folder / alias.name).is_dir()
            )
    return found


LIBRARY_FILES = sorted((REPO / "spikemo").rglob("*.py"))


def test_the_checker_knows_allowed_from_forbidden_imports():
    assert may_import("spikemo.video.analyzer", "spikemo.training.predict")
    assert may_import("spikemo.model.modeling", "spikemo.model.dswa")
    assert may_import("spikemo.data.meld", "spikemo.errors")
    assert not may_import("spikemo.data.meld", "spikemo.model.modeling")
    assert may_import("spikemo.model.configuration", "spikemo.data.labels")
    assert not may_import("spikemo.viz.plots", "spikemo.video.analysis")  # siblings of one rank
    assert not may_import("spikemo.errors", "spikemo.data.conversation")
    with pytest.raises(ValueError, match="no known layer"):
        layer_of("spikemo.newthing.module")


def test_every_library_module_belongs_to_a_layer():
    for path in LIBRARY_FILES:
        layer_of(module_name(path))


@pytest.mark.parametrize("path", LIBRARY_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_the_library_imports_no_ui_and_only_lower_layers(path):
    importer = module_name(path)
    for imported in imported_modules(path):
        top = imported.split(".")[0]
        assert top not in FORBIDDEN_IN_LIBRARY, f"{importer} imports {imported}: the library must not"
        if top == "spikemo":
            layers = f"{layer_of(importer)} -> {layer_of(imported)}"
            assert may_import(importer, imported), f"{importer} imports {imported}: higher or sibling ({layers})"


def test_ui_and_training_entry_points_stay_apart():
    for folder, other in (("demo", "train"), ("train", "demo")):
        for path in sorted((REPO / folder).rglob("*.py")):
            tops = {name.split(".")[0] for name in imported_modules(path)}
            assert other not in tops, f"{path.relative_to(REPO)} imports {other}"
            if folder == "train":
                assert "gradio" not in tops, f"{path.relative_to(REPO)} imports gradio"


def test_the_training_drivers_import_only_the_library():
    """Each train/ script drives library code: none imports another, so what one needs that another has is in
    spikemo/."""
    for path in sorted((REPO / "train").glob("*.py")):
        drivers = sorted(name for name in imported_modules(path) if name.split(".")[0] == "train")
        assert drivers == [], f"{path.relative_to(REPO)} imports {drivers}"


CODE_FILES = sorted([*(REPO / "spikemo").rglob("*.py"), *(REPO / "demo").rglob("*.py"),
                     *(REPO / "train").rglob("*.py"), REPO / "app.py"])


@pytest.mark.parametrize("path", CODE_FILES, ids=lambda path: str(path.relative_to(REPO)))
def test_functions_fit_on_a_screen(path):
    """No function or method over 80 lines: each can be read, and tested, alone."""
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno + 1 > 80
    ]
    assert long == []


@pytest.mark.parametrize("path", sorted((REPO / "demo").rglob("*.py")), ids=lambda path: path.name)
def test_demo_modules_stay_short(path):
    """The UI arranges library calls: a demo module over 400 lines holds logic that belongs in the library."""
    assert len(path.read_text(encoding="utf-8").splitlines()) <= 400


def test_the_code_passes_ruff():
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", str(REPO)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_wheel_is_claimed_since_the_assets_live_beside_the_code():
    """SpikEmo runs from its repository: assets/ (checkpoint, face and voice models, examples) sits beside the
    code, so pyproject.toml declares no installable project (a wheel would not find them)."""
    import tomllib

    settings = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert "project" not in settings and "build-system" not in settings
    assert {"ruff", "pytest"} <= set(settings["tool"])
    assert "not packaged as a wheel" in (REPO / "README.md").read_text(encoding="utf-8")
