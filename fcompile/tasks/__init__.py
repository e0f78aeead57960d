"""Tasks: the workflows the CLI, the SDK and the feature server share, one module each.

They take a compiled graph and a runner (`fcompile.runners`) or an online store (`fcompile.online`) and do
one job: build a training set (`training`), run datasets and materialization (`datasets`, `materialize`),
read and delete online rows (`online_reads`, `online_deletes`), push rows (`push`, `push_offline`,
`push_values`), hold the materialization locks (`locks`), load seeds (`seeds`), say what a run would do
(`dry_run`), and open the target's offline engine or ask what it can do (`offline_engine`). The front ends
only parse their input, call a task and show its result.
"""
