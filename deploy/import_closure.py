"""Which modules a function can import, and which of those imports find nothing.

Starting from the entry points (the ``fdk`` script and ``func.py``), every
import statement of every reachable Python module is followed through the
install folder and the standard library. An import that finds nothing is
*dangling*. It is *required* when it runs unconditionally on a path that is
itself required; an import inside ``try`` with an import-error handler, or
under ``if TYPE_CHECKING``, is *optional*, and so is everything reached only
through one.

Two things a source scan cannot see are handled on purpose:

- ``oci.<service>`` attribute access: the SDK imports a service package lazily
  on first attribute access, so ``oci.identity.X`` counts as an import of
  ``oci.identity``.
- compiled modules: their imports are invisible, so a distribution with a
  reachable compiled module keeps every distribution it declares it requires
  (markers are not evaluated: the conservative reading).
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

IMPORT_ERRORS = frozenset(
    {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}
)
EXTENSION_SUFFIXES = (".so", ".pyd")
REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def canonical_name(name: str) -> str:
    """A distribution name as pip compares them: lower case, runs of -_. as -."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class ImportEdge:
    """One import found in a module: the module it names, and if it is optional."""

    source: str
    target: str
    optional: bool
    from_names: tuple[str, ...] = ()
    removed: bool = False


@dataclass
class Closure:
    """The result: reachable modules and the imports that found nothing."""

    required: set[str] = field(default_factory=set)
    optional: set[str] = field(default_factory=set)
    dangling: list[ImportEdge] = field(default_factory=list)
    missing_distributions: list[tuple[str, str]] = field(default_factory=list)

    def broken(self) -> list[ImportEdge]:
        """Required imports whose module the slimming removed."""
        return [e for e in self.dangling if e.removed and not e.optional]


class ModuleIndex:
    """Finds a dotted module name in the install folders or the standard library."""

    def __init__(self, roots: Iterable[Path], removed: Iterable[str] = ()) -> None:
        self.roots = [Path(root) for root in roots]
        self.removed = frozenset(removed)

    def locate(self, name: str) -> Path | None:
        """The module's file (``__init__.py`` for a package, the folder for a
        namespace package), or None when no root holds it."""
        parts = name.split(".")
        for root in self.roots:
            base = root.joinpath(*parts)
            if (base / "__init__.py").is_file():
                return base / "__init__.py"
            source = base.with_name(parts[-1] + ".py")
            if source.is_file():
                return source
            if base.parent.is_dir():
                for candidate in base.parent.glob(parts[-1] + ".*"):
                    if candidate.suffix in EXTENSION_SUFFIXES:
                        return candidate
            if base.is_dir() and not (base / "__init__.py").exists():
                return base
        return None

    def is_stdlib(self, name: str) -> bool:
        top = name.split(".")[0]
        return top in sys.stdlib_module_names or top in sys.builtin_module_names

    def was_removed(self, name: str) -> bool:
        parts = name.split(".")
        return any(".".join(parts[:end]) in self.removed for end in range(1, 8))

    def resolves(self, name: str) -> bool:
        if self.was_removed(name):
            return False
        return self.is_stdlib(name) or self.locate(name) is not None


class _ImportVisitor(ast.NodeVisitor):
    """Collects the imports of one module, marking the conditional ones."""

    def __init__(self, module: str, package: str) -> None:
        self.module = module
        self.package = package
        self.guarded = 0
        self.edges: list[ImportEdge] = []

    def _add(self, target: str, names: tuple[str, ...] = ()) -> None:
        self.edges.append(ImportEdge(self.module, target, self.guarded > 0, names))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            parts = self.package.split(".")
            parts = parts[: len(parts) - (node.level - 1)]
            base = ".".join([*parts, base] if base else parts)
        names = tuple(alias.name for alias in node.names if alias.name != "*")
        self._add(base, names)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if isinstance(node.value, ast.Name) and node.value.id == "oci":
            self._add(f"oci.{node.attr}", ("<attribute>",))
        self.generic_visit(node)

    def visit_Try(self, node: ast.Try) -> None:
        catches = any(_catches_import_error(handler) for handler in node.handlers)
        self.guarded += catches
        for part in (*node.body, *node.handlers):
            self.visit(part)
        self.guarded -= catches
        for part in (*node.orelse, *node.finalbody):
            self.visit(part)

    def visit_If(self, node: ast.If) -> None:
        if "TYPE_CHECKING" in ast.unparse(node.test):
            self.guarded += 1
            for statement in node.body:
                self.visit(statement)
            self.guarded -= 1
            for statement in node.orelse:
                self.visit(statement)
            return
        self.generic_visit(node)


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(ast.unparse(kind).split(".")[-1] in IMPORT_ERRORS for kind in kinds)


def module_imports(path: Path, module: str) -> list[ImportEdge]:
    """Every import in one Python source file."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_bytes(), filename=str(path))
    visitor = _ImportVisitor(module, package)
    visitor.visit(tree)
    return visitor.edges


def _parents(name: str) -> Iterator[str]:
    parts = name.split(".")
    for end in range(1, len(parts)):
        yield ".".join(parts[:end])


def compute_closure(
    entries: dict[str, Path], index: ModuleIndex, removed_oci_services: Iterable[str]
) -> Closure:
    """Follow imports from ``entries`` (module name -> source file)."""
    lazy_services = frozenset(removed_oci_services)
    closure = Closure()
    queue: list[tuple[str, Path | None, bool]] = [
        (name, path, False) for name, path in entries.items()
    ]
    extensions: set[Path] = set()

    while queue:
        name, path, optional = queue.pop()
        seen = closure.optional if optional else closure.required
        if name in seen or (optional and name in closure.required):
            continue
        seen.add(name)
        if path is None:
            path = index.locate(name)
        if path is None or path.is_dir():
            continue
        if path.suffix in EXTENSION_SUFFIXES:
            extensions.add(path)
            continue
        if path.suffix != ".py" and path.parent.name != "bin":
            continue

        for edge in module_imports(path, name):
            for target, edge_optional in _targets(edge, index, lazy_services):
                reached_optionally = optional or edge_optional
                if not index.resolves(target):
                    closure.dangling.append(
                        ImportEdge(
                            edge.source,
                            target,
                            reached_optionally,
                            removed=index.was_removed(target),
                        )
                    )
                    continue
                if index.is_stdlib(target) and index.locate(target) is None:
                    continue
                for parent in _parents(target):
                    queue.append((parent, None, reached_optionally))
                queue.append((target, None, reached_optionally))

    closure.missing_distributions = _compiled_requirements(extensions, index)
    return closure


def _targets(
    edge: ImportEdge, index: ModuleIndex, lazy_services: frozenset[str]
) -> Iterator[tuple[str, bool]]:
    """The module names one import statement loads."""
    if edge.from_names == ("<attribute>",):
        service = edge.target.split(".")[1]
        if index.locate(edge.target) is not None or service in lazy_services:
            yield edge.target, edge.optional
        return

    yield edge.target, edge.optional
    for name in edge.from_names:
        submodule = f"{edge.target}.{name}"
        if index.was_removed(submodule) or index.locate(submodule) is not None:
            yield submodule, edge.optional


def _compiled_requirements(
    extensions: set[Path], index: ModuleIndex
) -> list[tuple[str, str]]:
    """(distribution, requirement) pairs a reachable compiled module needs."""
    installed = {
        canonical_name(dist.metadata["Name"]): dist
        for root in index.roots
        for dist in metadata.distributions(path=[str(root)])
    }
    owners: set[str] = set()
    for name, dist in installed.items():
        root = Path(str(dist.locate_file("")))
        files = {root / str(entry) for entry in dist.files or ()}
        if files & extensions:
            owners.add(name)

    missing = []
    pending = sorted(owners)
    done: set[str] = set()
    while pending:
        owner = pending.pop()
        if owner in done:
            continue
        done.add(owner)
        for requirement in installed[owner].requires or ():
            if "extra ==" in requirement:
                continue
            match = REQUIREMENT_NAME.match(requirement)
            needed = canonical_name(match.group(1)) if match else ""
            if needed in installed:
                pending.append(needed)
            elif needed:
                missing.append((owner, requirement))
    return missing
