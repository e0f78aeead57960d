"""The feature server (`fcompile serve`, docs/how-to/serving.md): Feast's HTTP API over a project's online store.

| module | what |
| --- | --- |
| `server.py` | the command's side: check the project, start uvicorn with its workers |
| `app.py` | the ASGI application: routes, bodies, responses, reloading |
| `state.py` | one loaded project per worker, and how a changed one replaces it |
| `requests.py` | request bodies, read and checked |
| `errors.py` | status codes and JSON error bodies from diagnostics |
| `settings.py`, `auth.py` | the target's `serving:` block; bearer tokens and their grants |
| `materialize.py` | `/materialize` and `/materialize-incremental`, one run at a time per project |
| `metrics.py` | Prometheus metrics, added up across workers |

Nothing here is imported by the other commands: uvicorn and prometheus_client load only when serving.
"""
