"""Code digests come from the import graph: an entry point's closure holds what running it
imports (checked against Python's own imports), an edit inside it changes the digest and an
edit outside does not, for every entry point the CLI has."""

from __future__ import annotations

import argparse
import ast
import shutil
import sys
from pathlib import Path

import pytest
from polyfact.cli import build_parser
from polyfact.digest import PACKAGE_DIR, code_closure, code_digest, config_digest, module_file


def entry_points() -> list[str]:
    """Every `module:function` the CLI runs (templated ones expanded over their choices)."""
    found: set[str] = set()

    def walk(parser: argparse.ArgumentParser) -> None:
        command = parser.get_default("command")
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    walk(sub)
            elif command and action.dest and "{" + action.dest + "}" in command:
                found.update(command.format_map({action.dest: choice}) for choice in action.choices)
        if command and "{" not in command:
            found.add(command)

    walk(build_parser())
    return sorted(found)


ENTRIES = entry_points()


def rel(paths: list[Path], root: Path = PACKAGE_DIR) -> set[str]:
    return {p.relative_to(root).as_posix() for p in paths}


def test_the_cli_entry_points_are_found() -> None:
    assert {"train:train_grpo", "train:train_sft", "train:train_cpt", "interpret:interpret_lahis"} <= set(ENTRIES)
    assert {"models:model_prepare", "evaluate:evaluate_mcq", "extract:extract", "tables:report_tables"} <= set(ENTRIES)


def _runtime_imports(entry: str) -> set[str]:
    """The package modules Python loads when it runs the entry's import statements (its
    module's top level, then its function's), in this process with a fresh `polyfact`."""
    module, function = entry.split(":")
    path = PACKAGE_DIR / "commands" / f"{module}.py"
    tree = ast.parse(path.read_text())
    body = [n for n in tree.body if not isinstance(n, ast.FunctionDef)]
    func = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function)
    imports = [n for n in [*body, func] for n in ast.walk(n) if isinstance(n, ast.Import | ast.ImportFrom)]
    saved = {name: mod for name, mod in sys.modules.items() if name == "polyfact" or name.startswith("polyfact.")}
    for name in saved:
        del sys.modules[name]
    try:
        exec(compile(ast.Module(body=imports, type_ignores=[]), str(path), "exec"), {"__name__": f"x.{module}"})
        return {name for name in sys.modules if name == "polyfact" or name.startswith("polyfact.")}
    finally:
        for name in [n for n in sys.modules if n == "polyfact" or n.startswith("polyfact.")]:
            del sys.modules[name]
        sys.modules.update(saved)


@pytest.mark.parametrize("entry", ENTRIES)
def test_the_closure_holds_every_module_python_imports(entry: str) -> None:
    closure = set(code_closure(entry))
    loaded = _runtime_imports(entry)
    missing = sorted(m for m in loaded if module_file(m) not in closure)
    assert not missing, f"{entry}: imported at run time but outside the digest: {missing}"


def test_an_edit_changes_exactly_the_digests_whose_closure_holds_it(tmp_path: Path) -> None:
    """For every entry point and every package file: edited inside the closure, the digest
    changes; outside it, the digest stays."""
    root = tmp_path / "polyfact"
    shutil.copytree(PACKAGE_DIR, root, ignore=shutil.ignore_patterns("__pycache__"))
    closures = {entry: rel(code_closure(entry, root), root) for entry in ENTRIES}
    before = {entry: code_digest(entry, root) for entry in ENTRIES}
    files = sorted(p for p in root.rglob("*") if p.is_file())
    for file in files:
        original = file.read_bytes()
        file.write_bytes(original + b"\n# edited\n")
        try:
            for entry in ENTRIES:
                inside = file.relative_to(root).as_posix() in closures[entry]
                changed = code_digest(entry, root) != before[entry]
                assert changed == inside, (entry, file.relative_to(root), inside)
        finally:
            file.write_bytes(original)


def test_entry_points_are_narrow() -> None:
    """One method's trainer does not rerun another's jobs, nor the base model's; one analysis
    or benchmark does not rerun the others."""
    grpo, sft, cpt = (rel(code_closure(f"train:train_{m}")) for m in ("grpo", "sft", "cpt"))
    assert "train/grpo.py" in grpo and "train/rewards.py" in grpo
    assert not {"train/sft.py", "train/cpt.py"} & grpo
    assert "train/sft.py" in sft and not {"train/grpo.py", "train/rewards.py", "train/cpt.py"} & sft
    assert "train/cpt.py" in cpt and not {"train/grpo.py", "train/sft.py"} & cpt
    base = rel(code_closure("models:model_prepare"))
    assert not {"train/grpo.py", "train/sft.py", "train/cpt.py", "train/rewards.py"} & base
    lape = rel(code_closure("interpret:interpret_lape"))
    assert "interpret/lape.py" in lape and not {"interpret/lahis.py", "interpret/mexa.py"} & lape
    mcq = rel(code_closure("evaluate:evaluate_mcq"))
    assert "evaluate/scoring.py" in mcq and "evaluate/klar.py" not in mcq
    tables = rel(code_closure("tables:report_tables"))
    assert "evaluate/tables.py" in tables and not any(p.startswith(("train/", "models/")) for p in tables)
    # the dispatcher and the bookkeeping around a job are not part of any job's result
    jobs = [e for e in ENTRIES if e != "lineage:lineage"]  # lineage reads provenance, it runs no job
    assert not any({"cli.py", "jobs.py", "provenance.py"} & rel(code_closure(e)) for e in jobs)


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_imports_of_every_form_and_package_data(tmp_path: Path) -> None:
    root = tmp_path / "polyfact"
    write(
        root,
        {
            "__init__.py": "",
            "commands/__init__.py": "from polyfact import shared\n",
            "commands/run.py": (
                "import json\nfrom polyfact.top import x\n\n"
                "def helper():\n    from ..lazy import y\n\n"
                "def run(args):\n    helper()\n    import polyfact.pkg.deep\n    from . import sibling\n\n"
                "def other(args):\n    from polyfact import unrelated\n"
            ),
            "commands/sibling.py": "",
            "shared.py": "",
            "top.py": "x = 1\n",
            "lazy.py": "from .pkg import data_reader\ny = 2\n",
            "pkg/__init__.py": "",
            "pkg/deep.py": "",
            "pkg/data_reader.py": "from pathlib import Path\nSCHEMA = Path(__file__).parent / 'schema.json'\n",
            "pkg/schema.json": "{}",
            "unrelated.py": "",
        },
    )
    closure = rel(code_closure("run:run", root), root)
    assert closure == {
        "__init__.py",
        "commands/__init__.py",
        "commands/run.py",
        "commands/sibling.py",
        "shared.py",
        "top.py",
        "lazy.py",
        "pkg/__init__.py",
        "pkg/deep.py",
        "pkg/data_reader.py",
        "pkg/schema.json",
    }
    assert "unrelated.py" in rel(code_closure("run:other", root), root)
    before = code_digest("run:run", root)
    (root / "pkg/schema.json").write_text('{"a": 1}')
    assert code_digest("run:run", root) != before
    with pytest.raises(ValueError, match="no function 'missing'"):
        code_closure("run:missing", root)
    with pytest.raises(ValueError, match="no module"):
        code_closure("nothing:run", root)


def test_config_digest_covers_the_named_sections_only() -> None:
    config = {"a": {"x": 1}, "b": 2}
    assert config_digest(config, "a") == config_digest({"a": {"x": 1}, "b": 3}, "a")
    assert config_digest(config, "a", "b") != config_digest({"a": {"x": 1}, "b": 3}, "a", "b")
    assert config_digest(config, "missing") == config_digest({}, "missing")
