"""The grouped diffusion package: what pyproject ships, and the layers (the library never
imports the application)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "revsde"
#: Files allowed to import revsde.app: the application itself and the command line.
APP_SIDE = ("app", "cli.py", "__main__.py")


def _imported_modules(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``path`` (a file under ``root``), the
    relative ones resolved; ``from M import name`` also gives ``M.name`` (it may be a module)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    package = parts[:-1]  # the package a relative import starts from (also for __init__)
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package[:len(package) - (node.level - 1)]
                module = ".".join(base + ([module] if module else []))
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def test_the_library_never_imports_the_application():
    """Only revsde/app/ and the command line may import revsde.app (the layers run one way)."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] in APP_SIDE:
            continue
        for line, module in _imported_modules(path):
            if module == "revsde.app" or module.startswith("revsde.app."):
                offenders.append(f"revsde/{rel.as_posix()}:{line} imports {module}")
    assert not offenders, "the library imports the application:\n" + "\n".join(offenders)


def test_the_import_scan_resolves_relative_imports(tmp_path):
    """The scan above sees relative imports that climb to revsde/app, as well as absolute ones."""
    path = tmp_path / "revsde" / "diffusion" / "adapters" / "x.py"
    path.parent.mkdir(parents=True)
    path.write_text("from ...app.images import load_picture\n"
                    "def f():\n    from ... import app\n"
                    "import revsde.app.demo\n"
                    "from .loading import load_diffusers\n")
    assert {m for _, m in _imported_modules(path, tmp_path)} == {
        "revsde.app.images", "revsde.app.images.load_picture", "revsde", "revsde.app",
        "revsde.app.demo", "revsde.diffusion.adapters.loading",
        "revsde.diffusion.adapters.loading.load_diffusers"}
    init = tmp_path / "revsde" / "diffusion" / "__init__.py"
    init.write_text("from ..app import demo\n")
    assert {m for _, m in _imported_modules(init, tmp_path)} == {"revsde.app", "revsde.app.demo"}


def test_package_data_ships_py_typed_and_the_weights():
    """pyproject's package-data names files that exist at the regrouped paths."""
    import tomllib

    root = ROOT
    data = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]
    assert "py.typed" in data["revsde"] and (root / "revsde" / "py.typed").is_file()
    weights = data["revsde.diffusion.pretrained"]
    found = [p for pattern in weights
             for p in (root / "revsde" / "diffusion" / "pretrained").glob(pattern)]
    assert any(p.name == "small_unet.pt" for p in found)
