"""fcompile: a feature store built as a compiler.

The public surface is small: `fcompile.FeatureStore` (added by later stages) and the `fcompile` command.
Heavy libraries are imported lazily so that `import fcompile` and `fcompile --version` stay fast.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
