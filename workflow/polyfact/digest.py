"""Digests of config slices and of the package code a job runs, used in rule `params` so that
Snakemake reruns exactly the jobs whose configuration or code changed (it does not track
imported modules itself).

A rule names only its entry point, the CLI adapter it runs (`"train:train_grpo"` is the
function `train_grpo` of `polyfact.commands.train`, as in `polyfact.cli`). The modules it runs
are found by reading the import graph, never listed by hand: a list kept in step with the
imports by hand drifts (DESIGN §10).
"""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

PACKAGE = "polyfact"
PACKAGE_DIR = Path(__file__).resolve().parent
DATA_SUFFIXES = {".yaml", ".yml", ".json", ".txt", ".tsv", ".csv", ".rst", ".md"}


def config_digest(config: Mapping[str, Any], *keys: str) -> str:
    """Digest of the named top-level config sections (missing ones count as null)."""
    payload = json.dumps({k: config.get(k) for k in keys}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def module_file(module: str, root: Path = PACKAGE_DIR) -> Path | None:
    """The source file of `polyfact.a.b` (a module or a package's `__init__`), if it exists."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    base = root.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py") if parts[1:] else None, base / "__init__.py"):
        if candidate is not None and candidate.is_file():
            return candidate
    return None


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([PACKAGE, *parts])


def _imported(node: ast.AST, module: str, is_package: bool, root: Path) -> Iterator[str]:
    """Package modules named by the import statements anywhere under `node`: `import a.b`,
    `from a import b` (b a submodule or a name in a) and relative imports."""
    for n in ast.walk(node):
        if isinstance(n, ast.Import):
            yield from (alias.name for alias in n.names if alias.name.split(".")[0] == PACKAGE)
        elif isinstance(n, ast.ImportFrom):
            if n.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                base = ".".join(package[: len(package) - n.level + 1] + ([n.module] if n.module else []))
            else:
                base = n.module or ""
            if base.split(".")[0] != PACKAGE:
                continue
            yield base
            for alias in n.names:
                if module_file(f"{base}.{alias.name}", root):
                    yield f"{base}.{alias.name}"


def _data_files(tree: ast.AST, path: Path, root: Path) -> Iterator[Path]:
    """Package data a module reads: string literals naming a non-Python file beside it or in
    the package (e.g. `Path(__file__).parent / "schema.json"`)."""
    for n in ast.walk(tree):
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and Path(n.value).suffix in DATA_SUFFIXES:
            if "\n" in n.value or len(n.value) > 200:
                continue
            for base in (path.parent, root):
                candidate = (base / n.value).resolve()
                if candidate.is_file() and candidate.is_relative_to(root):
                    yield candidate


def _version(path: Path) -> tuple[int, int]:
    """What identifies a file's version for the caches below (tests edit files in place)."""
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


def _parse(path: Path) -> ast.Module:
    return _parse_version(path, _version(path))


@cache
def _parse_version(path: Path, version: tuple[int, int]) -> ast.Module:
    """Parsed once per file version (the Snakefile asks for many jobs' digests)."""
    return ast.parse(path.read_bytes(), filename=str(path))


def _dependencies(path: Path, root: Path) -> tuple[frozenset[str], frozenset[Path]]:
    """Modules imported anywhere in a file (imports inside functions too) and its data files."""
    return _dependencies_version(path, root, _version(path))


@cache
def _dependencies_version(path: Path, root: Path, version: tuple[int, int]) -> tuple[frozenset[str], frozenset[Path]]:
    """Walked once per file version, like `_parse_version`."""
    tree = _parse(path)
    module = _module_name(path, root)
    modules = frozenset(_imported(tree, module, path.name == "__init__.py", root))
    return modules, frozenset(_data_files(tree, path, root))


def _parents(module: str) -> Iterator[str]:
    """Importing `polyfact.a.b` runs `polyfact/__init__.py` and `polyfact/a/__init__.py` first."""
    parts = module.split(".")
    for i in range(1, len(parts)):
        yield ".".join(parts[:i])


def _entry_imports(path: Path, function: str, root: Path) -> set[str]:
    """What running one function of a module imports: the module's top level (classes
    included) plus the function's body and the bodies of the module's functions it calls."""
    tree = _parse(path)
    module = _module_name(path, root)
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    if function not in functions:
        raise ValueError(f"entry point: {module} has no function {function!r}")
    top = ast.Module(body=[n for n in tree.body if not isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)])
    found = set(_imported(top, module, False, root))
    todo, seen = [function], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        body = functions[name]
        found |= set(_imported(body, module, False, root))
        todo += [n.id for n in ast.walk(body) if isinstance(n, ast.Name) and n.id in functions]
    return found


def code_closure(entry: str, root: Path = PACKAGE_DIR) -> list[Path]:
    """Every package file a job whose entry point is `entry` can run or read.

    `entry` is `"module:function"` (relative to `polyfact.commands`) or a dotted module path
    relative to `polyfact` (the whole module is the entry). The entry's own file counts whole.
    """
    root = root.resolve()
    if ":" in entry:
        module_path, function = entry.split(":")
        module = f"{PACKAGE}.commands.{module_path}"
    else:
        module, function = f"{PACKAGE}.{entry}", None
    path = module_file(module, root)
    if path is None:
        raise ValueError(f"entry point {entry!r}: no module {module} under {root}")
    files: set[Path] = {path}
    todo = list(_entry_imports(path, function, root) if function else _dependencies(path, root)[0])
    todo += list(_parents(module))
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        file = module_file(name, root)
        if file is None:
            continue  # a name imported from a module, not a module itself
        files.add(file)
        modules, data = _dependencies(file, root)
        files |= data
        todo += [*modules, *_parents(name)]
    files |= _dependencies(path, root)[1]
    return sorted(files)


def digest_files(files: Iterable[Path], root: Path = PACKAGE_DIR) -> str:
    """Digest of files' package-relative names and bytes."""
    h = hashlib.sha256()
    for f in sorted(files):
        h.update(str(f.relative_to(root.resolve())).encode())
        h.update(b"\0")
        h.update(f.read_bytes())
        h.update(b"\0")
    return h.hexdigest()[:16]


def code_digest(entry: str, root: Path = PACKAGE_DIR) -> str:
    """Digest of the code behind one entry point (see `code_closure`)."""
    return digest_files(code_closure(entry, root), root)
