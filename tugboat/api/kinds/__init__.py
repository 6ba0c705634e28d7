"""Per-kind strategies for the built-in kinds.

Each module registers its strategies with `tugboat.api.strategy.register` when imported;
importing this package imports them all (core_*.py for core/v1, <group>_*.py for the rest).
"""

import importlib
import pkgutil

for _mod in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if not _mod.startswith("_"):
        importlib.import_module(f"{__name__}.{_mod}")
