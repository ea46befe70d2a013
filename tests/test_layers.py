"""Imports point one way: deployments -> flows -> tasks -> rmcore, and inside rmcore from the training
groups down to data, with no module importing itself back through others.

Read from the source (every `import`, at the top or inside a function), so a loop hidden in a function
body counts as much as one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("rmcore", "tasks", "flows", "deployments", "rewardflow")
# Each package may import only those to its right.
BELOW = {
    "rewardflow": {"deployments", "flows", "tasks", "rmcore"},
    "deployments": {"flows", "tasks", "rmcore"},
    "flows": {"tasks", "rmcore"},
    "tasks": {"rmcore"},
    "rmcore": set(),
}
# rmcore's groups, each allowed to import those listed.
RMCORE_BELOW = {
    "training": {"checks", "evaluation", "models", "forward", "data"},
    "checks": {"evaluation", "models", "forward", "data"},
    "evaluation": {"models", "forward", "data"},
    "models": {"forward", "data"},
    "forward": {"data"},
    "data": set(),
}


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")


def imports_of(path: Path) -> set[str]:
    """The project modules a file imports, by their full names."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found |= {name for name in names if name.split(".")[0] in PACKAGES}
    return found


def project_modules() -> dict[str, set[str]]:
    files = [path for package in PACKAGES for path in (REPO / package).rglob("*.py")]
    modules = {module_name(path): imports_of(path) for path in files}
    # `from rmcore.data import tokenization` names a module; `from rmcore import RewardConfig` names its package
    return {name: {dep for dep in deps if dep in modules} for name, deps in modules.items()}


MODULES = project_modules()


@pytest.mark.parametrize("package", PACKAGES)
def test_a_package_imports_only_the_packages_below_it(package):
    upward = {
        f"{name} -> {dep}"
        for name, deps in MODULES.items()
        if name.split(".")[0] == package
        for dep in deps
        if dep.split(".")[0] not in BELOW[package] | {package}
    }
    assert not upward, sorted(upward)


def test_rmcore_groups_import_downward_only():
    sideways = set()
    for name, deps in MODULES.items():
        parts = name.split(".")
        if parts[0] != "rmcore" or len(parts) < 3:
            continue
        for dep in deps:
            dep_parts = dep.split(".")
            if dep_parts[0] == "rmcore" and len(dep_parts) >= 2 and dep_parts[1] != parts[1]:
                if dep_parts[1] not in RMCORE_BELOW[parts[1]]:
                    sideways.add(f"{name} -> {dep}")
    assert not sideways, sorted(sideways)


def test_no_module_imports_itself_back():
    def cycle_from(start: str) -> list[str] | None:
        stack, on_path = [(start, iter(sorted(MODULES[start])))], [start]
        while stack:
            name, deps = stack[-1]
            dep = next(deps, None)
            if dep is None:
                stack.pop()
                on_path.pop()
            elif dep == start:
                return on_path + [start]
            elif dep not in on_path and not is_package_of(dep, name):
                stack.append((dep, iter(sorted(MODULES[dep]))))
                on_path.append(dep)
        return None

    def is_package_of(package: str, module: str) -> bool:
        return module.startswith(package + ".")

    loops = {" -> ".join(cycle) for start in MODULES if (cycle := cycle_from(start))}
    assert not loops, sorted(loops)
