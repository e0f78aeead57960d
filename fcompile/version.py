"""The version of fcompile, in a module of its own: the compiled files, the manifest and the caches stamp it,
and importing it must not import the package's public surface (`fcompile.FeatureStore`)."""

__version__ = "0.1.0"
