"""fcompile: a feature store built as a compiler.

The public surface is small: `fcompile.FeatureStore` (the SDK) and the `fcompile` command.
Heavy libraries are imported lazily so that `import fcompile` and `fcompile --version` stay fast.
"""

from __future__ import annotations

from typing import Any

from fcompile.version import __version__

__all__ = ["FeatureStore", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "FeatureStore":  # loaded on first use: `import fcompile` stays fast
        from fcompile.sdk import FeatureStore

        return FeatureStore
    raise AttributeError(f"module 'fcompile' has no attribute {name!r}")
