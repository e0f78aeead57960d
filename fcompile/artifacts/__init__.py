"""Artifacts stage: `fcompile build` output under `target/` (compiled SQL per dialect, manifest).

`selection` picks nodes; `queries` plans one node for a dialect and names its file; `rendering` turns
plans into SQL (through `compile_cache`, in parallel when there are many); `manifest` describes the graph
and the files; `build` computes the expected target folder and writes or checks it.
"""
