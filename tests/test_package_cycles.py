"""No import cycle inside a package: within ``abtui.diff``, ``abtui.experiment``, ``abtui.cli``
and every other package the imports run one way (imports done only for type checking
aside; a function-level import counts, as it is a dependency all the same)."""

from __future__ import annotations

import grimp


def test_no_package_has_an_import_cycle_among_its_modules() -> None:
    graph = grimp.build_graph("abtui", exclude_type_checking_imports=True)
    by_package: dict[str, set[str]] = {}
    for module in graph.modules:
        if module.startswith("abtui."):
            by_package.setdefault(module.rsplit(".", 1)[0], set()).add(module)
    cycles = []
    for package, modules in sorted(by_package.items()):
        for a in sorted(modules):
            for b in sorted(graph.find_modules_directly_imported_by(a) & modules):
                back = graph.find_shortest_chain(importer=b, imported=a)
                if back is not None:
                    cycles.append(f"{package}: {a} -> {' -> '.join(back)}")
    assert not cycles, "\n".join(cycles)
    assert {"abtui.diff", "abtui.experiment", "abtui.cli"} <= set(by_package)
