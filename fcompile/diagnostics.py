"""Diagnostics: every user error is one of these, with a position, a code and a hint.

A stage that finds problems collects them all and raises a single `DiagnosticError`, so the user sees
every mistake at once. Surfaces (CLI, SDK, server) render them; nothing else prints them.
"""

from __future__ import annotations

import difflib
import enum
import json
import os
from dataclasses import dataclass
from typing import Iterable, Sequence

from fcompile.control_characters import escape_controls


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"


class Code(str, enum.Enum):
    """Stable diagnostic codes. The number never changes meaning once released."""

    # files and YAML
    YAML_SYNTAX = "FC001"
    FILE_SHAPE = "FC002"
    PROJECT_FILE_MISSING = "FC003"
    FILE_UNREADABLE = "FC004"
    # structure (driven by the JSON Schemas)
    UNKNOWN_KEY = "FC010"
    WRONG_TYPE = "FC011"
    MISSING_FIELD = "FC012"
    INVALID_VALUE = "FC013"
    EXCLUSIVE_FIELDS = "FC014"
    EMPTY_LIST = "FC015"
    UNBOUNDED_RANGE_JOIN = "FC016"  # a warning: `strategy: range` on a view without a ttl
    # names
    DUPLICATE_NAME = "FC020"
    DUPLICATE_MEMBER = "FC021"
    # references
    UNKNOWN_ENTITY = "FC030"
    UNKNOWN_SOURCE = "FC031"
    UNKNOWN_VIEW = "FC032"
    UNKNOWN_FEATURE = "FC033"
    UNKNOWN_SERVICE = "FC034"
    UNKNOWN_TARGET = "FC035"
    # identifiers
    BAD_IDENTIFIER = "FC040"
    DOUBLE_UNDERSCORE = "FC041"
    RESERVED_WORD = "FC042"
    # types and durations
    BAD_DTYPE = "FC050"
    BAD_DURATION = "FC051"
    NON_POSITIVE_TTL = "FC052"
    # source schemas
    JOIN_KEY_DTYPE_MISMATCH = "FC060"
    MISSING_COLUMN = "FC061"
    SOURCE_FILE_NOT_FOUND = "FC062"
    # services and datasets
    FEATURE_NAME_COLLISION = "FC070"
    # project file and targets
    ENV_VAR_UNSET = "FC080"
    BAD_TEMPLATE = "FC081"
    LITERAL_SECRET = "FC082"         # a password, passphrase, token or URL password written into the project file
    # command line
    BAD_ARGUMENT = "FC090"
    # compilation
    UNSUPPORTED_BY_DIALECT = "FC100"
    INVALID_QUERY = "FC101"
    # running on an offline engine
    ENGINE_ERROR = "FC110"
    NO_RUNNER = "FC111"
    SPINE_TIMESTAMP = "FC112"
    # online stores
    ONLINE_STORE_UNREACHABLE = "FC113"
    ONLINE_STORE_ERROR = "FC114"
    ONLINE_KEY_MISMATCH = "FC115"
    # materialization and online reads
    ONLINE_WRITE_FAILED = "FC116"
    ENTITY_VALUE = "FC117"
    VIEW_NOT_ONLINE = "FC118"
    MATERIALIZE_WINDOW = "FC119"
    # push sources and writes into the online store (SDK push / write_to_online_store, POST /push)
    PUSH_SOURCE_KIND = "FC120"       # a push source where an ordinary source is needed, or the reverse
    PUSH_COLUMNS = "FC121"           # pushed rows lack a needed column, or carry one the dataset does not have
    PUSH_VALUE_TYPE = "FC122"        # a pushed value that does not fit its dtype, is empty, or is a future event time
    PUSH_REQUEST = "FC123"           # an unknown `to`, or rows that are not a table
    OFFLINE_PUSH_UNSUPPORTED = "FC124"  # the batch source cannot take appended rows (one file, a query, ...)
    # the feature server (fcompile serve)
    BAD_REQUEST = "FC125"
    REQUEST_TOO_LARGE = "FC126"
    UNAUTHENTICATED = "FC127"
    FORBIDDEN = "FC128"
    MATERIALIZE_BUSY = "FC129"
    # offline engines other than DuckDB (PostgreSQL, Spark)
    OFFLINE_UNREACHABLE = "FC130"    # the offline engine cannot be reached or started (refused, bad password, no Java)
    SOURCE_NOT_READABLE = "FC131"    # the engine cannot read a source where it is (a `path:` source on PostgreSQL)
    OFFLINE_SETTINGS = "FC132"       # the target's offline settings do not work for its engine (a bad value, no schema)
    DRIVER_MISSING = "FC133"         # the engine's Python driver is not installed (psycopg, pyspark)
    SPINE_UPLOAD = "FC134"           # a spine column the engine has no type for (an Arrow type it cannot hold)
    OUTPUT_UNWRITABLE = "FC135"      # a result file cannot be written where asked (a folder there, no space, no access)
    # windowed aggregations (docs/concepts/aggregations.md)
    UNKNOWN_AGGREGATE_FUNCTION = "FC150"
    AGGREGATE_COLUMN = "FC151"       # a column the source lacks, or none where the function needs one
    AGGREGATE_WINDOW = "FC152"       # a window that is not a positive whole multiple of the step
    AGGREGATE_STEP = "FC153"         # a step that neither divides a day nor is a whole number of days
    AGGREGATE_INPUT_TYPE = "FC154"   # sum/avg/stddev/variance over a non-numeric column; any function over an array
    AGGREGATE_DTYPE = "FC155"        # a declared dtype that contradicts the function's, or one that cannot be known
    AGGREGATE_NAME = "FC156"         # an aggregated feature named like another feature or a join key of its view
    AGGREGATE_TIMESTAMP = "FC157"    # aggregations over a source whose timestamp field holds no timestamps
    AGGREGATE_FEATURES = "FC158"     # a view with neither features nor aggregations
    AGGREGATES_NOT_ONLINE = "FC159"  # no longer raised: online tiles keep every aggregation (kept, not reused)
    # request sources and on-demand expressions
    EXPRESSION_SYNTAX = "FC140"      # an `expr` that does not parse as one SQL expression
    EXPRESSION_UNSUPPORTED = "FC141"  # an operator, function or CAST outside the portable subset
    EXPRESSION_UNKNOWN_NAME = "FC142"  # a name that is no input's feature nor a request field, or an ambiguous one
    EXPRESSION_TYPE = "FC143"        # operands of the wrong type (`'a' + 1`)
    EXPRESSION_DTYPE = "FC144"       # a declared dtype the expression cannot produce
    ON_DEMAND_CYCLE = "FC145"        # on-demand views that read each other in a cycle
    REQUEST_FIELDS_MISSING = "FC146"  # a spine or online request without the request fields its features need
    EXPRESSION_OVERFLOW = "FC147"    # int64 arithmetic out of range while an expression is evaluated
    TIE_BREAKER_TYPE = "FC148"       # a tie_breaker's type that a view's online tiles need but nothing gives
    # data tests (issue 18)
    UNKNOWN_TEST = "FC160"           # a test kind fcompile does not have, or one that does not fit where it is
    TEST_ARGUMENT = "FC161"          # a test's argument missing, of the wrong type, or out of order (min > max)
    TEST_COLUMN = "FC162"            # a test names a column that is not a feature of the view
    TEST_EXPRESSION = "FC163"        # an expression or where filter that is not a boolean
    TEST_FAILED = "FC164"            # an error-severity data test failed (fcompile test, run's tests)
    # profiles (issue 18)
    PROFILE_TARGET = "FC165"         # `fcompile profile --dataset` naming no dataset, or a selection with nothing to profile
    PROFILE_WINDOW = "FC166"         # `--start` after `--end`
    PROFILE_PROTOS_MISSING = "FC167"  # tensorflow-metadata (the statistics protos) is not installed
    PROFILE_FAILED = "FC168"         # a profile's query failed, or its result is not what the query promises
    SCHEMA_FILE = "FC169"            # a view's `schema:` file missing, unreadable, or not a TFDV Schema text proto
    SCHEMA_FEATURE = "FC190"         # a view's schema names a feature the view does not have
    PROFILE_COMPARE = "FC192"        # `fcompile profile --compare REF`: a reference that is not a readable profile
    SCHEMA_OUTPUT = "FC191"          # `fcompile profile --infer-schema`: --output with several profiles, or unwritable
    # training/serving skew: `fcompile profile --online --view V` (issue 18)
    SKEW_VIEW = "FC196"              # --view naming no feature view, an on-demand view, or a view with online: false
    SKEW_NOT_MATERIALIZED = "FC197"  # a view never materialized into the online store (no watermark), without --at
    SKEW_ARGUMENT = "FC198"          # a bad --limit, --max-mismatch or --seed, or options that do not go with --online
    SKEW_EXCEEDED = "FC199"          # a feature's share of differing keys above --max-mismatch
    DRIFT_KEY = "FC193"              # a `drift:` key that is no threshold fcompile has, or a view's drift naming none
    DRIFT_THRESHOLD = "FC194"        # a drift threshold that is not a number from 0 (to 1 where the figure stops there), or a bad severity
    DRIFT_KIND = "FC195"             # a drift threshold that does not apply to the feature's kind (max_linf on a float)
    STATE_UNREADABLE = "FC170"       # `--state DIR` is not the target folder of a build this fcompile can compare with
    # the feature server's metadata API (issue 19)
    API_QUERY = "FC171"              # a query parameter the metadata API does not take, or a value out of its range
    API_UNKNOWN_NODE = "FC172"       # a metadata API request naming a dataset or request source it cannot show
    PROFILE_UNREADABLE = "FC173"     # a view's latest profile cannot be read (shown in the answer's statistics)
    # the catalog site (issue 19)
    NO_CATALOG = "FC176"             # `fcompile docs serve` finds no generated site
    CATALOG_PORT = "FC177"           # `fcompile docs serve` cannot listen on the host and port
    # online reads of views not (or no longer) in the store (issues 16, 20)
    NOT_MATERIALIZED = "FC182"       # a warning: an online read of views never materialized into this online store
    TILES_NOT_KEPT = "FC183"         # an online read as of a time whose windows need tiles the store no longer keeps
    # request fields in online requests (issue 17)
    REQUEST_FIELD_CONFLICT = "FC184"  # a request field named like a join key or another source's field, of another dtype
    REQUEST_FIELD_VALUE = "FC185"    # an online request's request field value that does not fit the field's dtype


# What each code means, one sentence a code: `docs/reference/diagnostics.md` is generated from this table
# (`python -m fcompile.reference_docs`), so every code added above needs its line here.
CODE_MEANINGS: dict[Code, str] = {
    Code.UNKNOWN_TEST: ('An unknown data test (with the closest test as a hint), or a test where it does not apply '
        '(a view test on a feature, a feature test on a view, a range on a non-numeric feature).'),
    Code.TEST_ARGUMENT: ("A data test's argument that is missing, unknown, of the wrong type, or out of order (`min` "
        'greater than `max`, `warn_after` longer than `error_after`), or a `severity` other than error or warn.'),
    Code.TEST_COLUMN: ('A data test that names a column which is not a feature of its view (`null_fraction`); in an '
        '`expression:` or `where:`, a name that is no column of the source is FC142.'),
    Code.TEST_EXPRESSION: ('An `expression:` or `where:` of a data test that does not give a boolean (positioned at its '
        'start); the other problems of those texts are the on-demand expression codes FC140-FC143, positioned '
        'inside the text.'),
    Code.TEST_FAILED: ('An error-severity data test found failing rows: `fcompile test` exits 1, and `fcompile run` '
        'leaves the datasets and watermarks that read the tested nodes as they were (unless `--skip-tests`).'),
    Code.PROFILE_TARGET: ('`fcompile profile --dataset NAME` naming no dataset of the project (with the closest name '
        'as a hint), or a selection that holds no feature view with a plain feature.'),
    Code.PROFILE_WINDOW: '`fcompile profile --start T --end T` with a start after the end.',
    Code.PROFILE_PROTOS_MISSING: ('`fcompile profile` in an install without the `tensorflow-metadata` package, whose '
        'protos it writes: `pip install tensorflow-metadata`.'),
    Code.PROFILE_FAILED: ("A profile's query failed on the engine (its first line quoted; the other profiles still "
        'run), or returned something other than what the query promises.'),
    Code.SCHEMA_FILE: ("A feature view's `schema:` file that does not exist (relative to the project folder), cannot "
        'be read, or is not a TFDV `Schema` in text format (reported at the line and column of the file where it '
        'stops parsing).'),
    Code.SCHEMA_FEATURE: ("A warning: a feature view's schema names a feature the view does not have (reported at "
        'the line of the schema file that names it); `fcompile test` reports it as `SCHEMA_MISSING_COLUMN` until the '
        'schema is inferred again or edited.'),
    Code.PROFILE_COMPARE: ('`fcompile profile --compare REF` with a reference that is no file, not a profile `.pb`, or '
        '(`dataset:NAME`, `feature_view:NAME`) a node with no profile under `target/profiles/`.'),
    Code.SCHEMA_OUTPUT: ('`fcompile profile --infer-schema --output PATH` with more than one profile, or a schema file '
        'that cannot be written there.'),
    Code.SKEW_VIEW: ('`fcompile profile --online --view V` naming no feature view of the project (with the closest '
        'name as a hint), an on-demand view (computed at request time, never stored) or a view with `online: false`.'),
    Code.SKEW_NOT_MATERIALIZED: ('`fcompile profile --online --view V` without `--at`, for a view that has never been '
        "materialized into the target's online store: there is no watermark to compare at."),
    Code.SKEW_ARGUMENT: ('`fcompile profile --online` with a `--limit` below 1, a `--max-mismatch` outside 0 to 1, a '
        'negative `--seed`, without `--view` (or `--view` without `--online`), or with an option of the statistics '
        'profiles (`--select`, `--dataset`, `--start`, `--end`, `--compare`, `--infer-schema`).'),
    Code.SKEW_EXCEEDED: ('`fcompile profile --online --max-mismatch F`: the share of compared keys whose online and '
        'offline values differ is above F for at least one feature (each such feature is named).'),
    Code.DRIFT_KEY: ('A key of a `drift:` (on a feature or a feature view) that is not `max_psi`, `max_js`, '
        '`max_linf`, `max_null_fraction_diff` or `severity` (with the closest key as a hint), or a view\'s `drift:` '
        'that names no threshold.'),
    Code.DRIFT_THRESHOLD: ('A drift threshold that is not a finite number from 0 (a boolean, text, a negative number), '
        'one above 1 for a figure that never exceeds 1 (`max_js`, `max_linf`, `max_null_fraction_diff`), or a '
        '`severity` other than error or warn.'),
    Code.DRIFT_KIND: ("A drift threshold that does not apply to the feature's kind (`max_psi` or `max_js` on a "
        'string, `max_linf` on a number), or on a view none of whose plain features it applies to (aggregated '
        'features are not profiled).'),
    Code.YAML_SYNTAX: 'Invalid YAML (syntax, tabs, bad escapes).',
    Code.FILE_SHAPE: ('A file of the wrong shape (not a mapping, several documents, complex keys, nested deeper than '
        '64 levels, aliases that expand to more than 100,000 values).'),
    Code.PROJECT_FILE_MISSING: 'No `fcompile_project.yml` in the project folder.',
    Code.FILE_UNREADABLE: ('A file that cannot be read (not UTF-8, permissions, unreadable Parquet), a YAML file that '
        'is not a regular file (a FIFO, a device), or one larger than 10 MiB.'),
    Code.UNKNOWN_KEY: 'An unknown key (with the closest allowed key as a hint).',
    Code.WRONG_TYPE: 'A value of the wrong type.',
    Code.MISSING_FIELD: 'A required field is missing.',
    Code.INVALID_VALUE: 'An invalid value (e.g. an unsupported target type).',
    Code.NOT_MATERIALIZED: ('A warning: an online read (`fcompile get-online-features`, or `fcompile serve` when it '
        'loads the project) of feature views that were never materialized into the target\'s online store, so every '
        'value of theirs is NOT_FOUND: run `fcompile materialize`, or check the online store\'s settings (a missing '
        'or misspelt SQLite path is a new, empty database).'),
    Code.TILES_NOT_KEPT: ('An online read of windowed aggregations as of a time (the SDK\'s `now=`, the command\'s '
        '`--now`) earlier than the online store can answer: it keeps the tiles of windows that end at or after the '
        'view\'s newest materialization, and the windows of that time need older ones. Read as of a later time, or '
        'compute values for earlier times with a training set (`fcompile get-historical-features`).'),
    Code.UNBOUNDED_RANGE_JOIN: ('A warning: a feature view declares `strategy: range` but has no ttl, so every earlier '
        'row of a key is a candidate for each spine point (the rows are right; the join can be very large). Set a '
        'ttl, or use `asof` or `window`, the plans fcompile picks for a view without a ttl.'),
    Code.EXCLUSIVE_FIELDS: ('Exactly one of several fields is required (`path`/`table`/`query`, '
        '`service`/`features`), or a push source sets a field that belongs to its batch source.'),
    Code.EMPTY_LIST: 'A list or mapping that must not be empty.',
    Code.DUPLICATE_NAME: 'A name defined twice for one kind, across all files.',
    Code.DUPLICATE_MEMBER: ('A member listed twice (YAML key, join key, feature, requested feature; a feature named '
        'like a join key).'),
    Code.UNKNOWN_ENTITY: 'An unknown entity.',
    Code.UNKNOWN_SOURCE: 'An unknown source or push source.',
    Code.UNKNOWN_VIEW: 'An unknown feature view.',
    Code.UNKNOWN_FEATURE: 'An unknown feature of a view.',
    Code.UNKNOWN_SERVICE: 'An unknown feature service.',
    Code.UNKNOWN_TARGET: 'An unknown target.',
    Code.BAD_IDENTIFIER: 'A name that is not a valid identifier.',
    Code.DOUBLE_UNDERSCORE: 'A name containing `__`.',
    Code.RESERVED_WORD: 'A name that is a reserved word of a target dialect.',
    Code.BAD_DTYPE: 'An unknown or unsupported dtype (nested arrays, arrays as join keys).',
    Code.BAD_DURATION: 'An invalid duration.',
    Code.NON_POSITIVE_TTL: 'A ttl that is zero or negative.',
    Code.JOIN_KEY_DTYPE_MISMATCH: "A join-key dtype that disagrees with the source's data.",
    Code.MISSING_COLUMN: "A column named in the spec that the source's data lacks.",
    Code.SOURCE_FILE_NOT_FOUND: ('A source path that matches no file (a warning when parsing; an error when a '
        'training set needs it), or a spine file that does not exist.'),
    Code.FEATURE_NAME_COLLISION: 'Two features that would produce the same output column.',
    Code.ENV_VAR_UNSET: 'An environment variable used by `env_var()` is not set.',
    Code.BAD_TEMPLATE: 'An invalid template in the project file.',
    Code.LITERAL_SECRET: ('A credential written into the project file (`password`, `private_key_passphrase`, `token`, '
        "a password in a `url`): it must come from `{{ env_var('NAME') }}`."),
    Code.BAD_ARGUMENT: ('An invalid command-line argument (including an unknown name or tag in a selection), or SDK '
        'arguments that conflict (the spine given twice, both features and a service).'),
    Code.UNSUPPORTED_BY_DIALECT: ('The target dialect lacks a capability the plan needs (names the dialect and the '
        'feature).'),
    Code.INVALID_QUERY: ('A query source or spine that does not parse in the target dialect, or a spine query that '
        'fails to run.'),
    Code.ENGINE_ERROR: ('The offline engine failed while running a training set or dataset (names it and quotes the '
        "engine's message)."),
    Code.NO_RUNNER: ("The target's offline type has no runner: `redshift` and `trino` are compile-only for now "
        '(fcompile compiles SQL for them).'),
    Code.SPINE_TIMESTAMP: ("The spine's timestamp column is not of a timestamp type, or cannot be chosen (no "
        '`event_timestamp` and several or no timestamp columns).'),
    Code.ONLINE_STORE_UNREACHABLE: ('The online store cannot be reached or opened: a server that does not answer, a '
        'bad URL, a SQLite file that cannot be opened, or its Python driver is not installed (names the store and '
        'its address).'),
    Code.ONLINE_STORE_ERROR: ("The online store failed while writing or reading (quotes the store's message, or the "
        "driver error it did not expect), or a batch whose values cannot be stored as the view's dtypes."),
    Code.ONLINE_KEY_MISMATCH: ("An entity key that does not fit the view's join keys (wrong number of values, or a "
        'value or key column of another type).'),
    Code.ONLINE_WRITE_FAILED: ('A write the online store failed while `fcompile materialize` loaded a view (names the '
        "view, the window, the keys written before, and the store's FC113/FC114 reason); the batches committed so "
        'far stay, the watermark does not move, the other views still run.'),
    Code.ENTITY_VALUE: ("An entity value in an online request that does not fit its join key's dtype, a join key that "
        'is missing or that no requested feature takes, keys with different numbers of values, or Feast-style '
        '`entity_rows` that are not mappings or do not all name the same keys.'),
    Code.VIEW_NOT_ONLINE: 'An online request names a feature view with `online: false`.',
    Code.MATERIALIZE_WINDOW: ('A materialization window that ends before it starts (`--start` after `--end`), or '
        'that ends more than a day in the future.'),
    Code.PUSH_SOURCE_KIND: ("A push source where an ordinary source is needed (a push source's `batch_source`; `push` "
        'to a name that is an ordinary source), with the push source to use when there is one.'),
    Code.PUSH_COLUMNS: ('Pushed rows lack a column the views need (names them and lists the columns expected), '
        'carry one the offline dataset does not have, or name one column by both its source name and its mapped '
        '(feature) name.'),
    Code.PUSH_VALUE_TYPE: ("A pushed value that does not convert to its column's dtype (names the column, the row and "
        'the dtype), an empty join key or event time, or an event or created time more than a day in the future '
        '(names the row, the value and the limit); nothing of the push is written.'),
    Code.PUSH_REQUEST: ('A malformed push: an unknown `to`, rows that are not a DataFrame, Arrow table or mapping of '
        'lists, columns of different lengths, a name that is not text.'),
    Code.OFFLINE_PUSH_UNSUPPORTED: ('Rows pushed offline cannot be appended to the batch source: a single Parquet '
        'file (use a folder or glob), CSV files, a query, a missing table, or a table on an engine other than '
        'DuckDB.'),
    Code.BAD_REQUEST: ('A request the feature server cannot take: an unknown endpoint (404) or method (405), a body '
        "that is not JSON (400) or not of the endpoint's shape (422), or a body that did not arrive in time (408)."),
    Code.REQUEST_TOO_LARGE: ("A request over one of the feature server's limits: a body larger than the target's "
        '`serving.max_request_bytes` or more entities than `serving.max_entities_per_request` (413), a request line '
        'and headers larger than `serving.max_header_bytes` or more header lines than `serving.max_headers` (431).'),
    Code.UNAUTHENTICATED: ("A request to the feature server without a valid bearer token, when the target's "
        '`serving.auth` has tokens (401).'),
    Code.FORBIDDEN: ('A bearer token asking for something outside its grant: a service, view, push source, write or '
        'materialization (403).'),
    Code.MATERIALIZE_BUSY: ('A materialization requested while another of the same project is running, in the same '
        'folder or into the same online store from another folder or machine (409).'),
    Code.OFFLINE_UNREACHABLE: ('The offline engine cannot be reached or started: PostgreSQL refuses the connection or '
        'the login, Snowflake or BigQuery refuse the sign-in or credentials, Spark cannot start (no Java, a bad '
        'master); one line naming the target, the server (without its password) and the reason.'),
    Code.SOURCE_NOT_READABLE: ('The offline engine cannot read a source where it is: a `path:` source on PostgreSQL, '
        'Snowflake or BigQuery (names the feature view and the files; load them into a table).'),
    Code.OFFLINE_SETTINGS: ("The target's offline settings cannot work: a PostgreSQL `schema` that does not exist, "
        'connection text libpq cannot read, a bad `connect_timeout`, a Spark `catalog` other than hive or in-memory, '
        'a cluster master without `staging_dir`, a malformed BigQuery `api_endpoint`, a `keyfile` with a plaintext '
        'endpoint.'),
    Code.DRIVER_MISSING: ("The offline engine's Python driver is not installed (`pip install 'fcompile[postgres]'`, "
        "`'fcompile[spark]'`, `'fcompile[snowflake]'`, `'fcompile[bigquery]'`)."),
    Code.SPINE_UPLOAD: ('A spine column of a type the engine cannot hold (a list or duration on PostgreSQL, a time of '
        'day on Spark).'),
    Code.OUTPUT_UNWRITABLE: ("A result file cannot be written where asked (`--output`, `to_parquet`, a dataset's "
        '`path`): a folder or a file in the way, no access, no space; what was at the path stays.'),
    Code.UNKNOWN_AGGREGATE_FUNCTION: ('An aggregated feature names a function fcompile does not compute (with the '
        'closest one as a hint): count, sum, avg, min, max, stddev, variance and last are.'),
    Code.AGGREGATE_COLUMN: ("An aggregated feature's column that the source's data lacks, or no column for a "
        'function other than count.'),
    Code.AGGREGATE_WINDOW: "An aggregated feature's window that is not a positive whole multiple of its view's step.",
    Code.AGGREGATE_STEP: ("An aggregations step that is not a whole number of seconds dividing one day, nor a whole "
        'number of days.'),
    Code.AGGREGATE_INPUT_TYPE: ('A function over a column of a type it cannot take: sum, avg, stddev or variance over '
        'a column that is not a number, or any function over an array.'),
    Code.AGGREGATE_DTYPE: ("An aggregated feature's declared dtype that contradicts the one its function gives (count "
        'int64; avg, stddev, variance float64; sum int64 or float64; min, max, last the column\'s), or no dtype '
        "where the column's type cannot be known when parsing (declare it)."),
    Code.AGGREGATE_NAME: "An aggregated feature named like another feature or a join key of its view.",
    Code.AGGREGATE_TIMESTAMP: ("Aggregations over a source whose timestamp field is missing from its data or holds no "
        'timestamps.'),
    Code.AGGREGATE_FEATURES: 'A feature view with neither `features` nor `aggregations`.',
    Code.AGGREGATES_NOT_ONLINE: ('No longer raised: it refused to serve online a `min`, `max` or `last` of a string '
        'column, which online tiles now keep like every other aggregation. The code stays reserved so that it is '
        'not given another meaning.'),
    Code.EXPRESSION_SYNTAX: ("An on-demand feature's `expr` (or a data test's `expression:` or `where:`) that does not "
        'parse as one SQL expression (points at the place in the text).'),
    Code.EXPRESSION_UNSUPPORTED: ('An operator, function or CAST in an `expr` outside the portable subset '
        '(docs/concepts/on-demand-features.md lists it).'),
    Code.EXPRESSION_UNKNOWN_NAME: ("A name in an `expr` that is no input's feature nor request field (with the closest "
        'name as a hint), or a bare name several inputs have (write `view.feature`); in a data test\'s `expression:` '
        'or `where:`, a name that is no column of the source.'),
    Code.EXPRESSION_TYPE: "Operands of the wrong type in an `expr` (`'a' + 1`, `NOT 3`), with the CAST that fits.",
    Code.EXPRESSION_DTYPE: "An on-demand feature's declared dtype that its expression cannot produce.",
    Code.ON_DEMAND_CYCLE: 'On-demand views that take each other as inputs in a cycle (names the cycle).',
    Code.REQUEST_FIELDS_MISSING: ('A spine or an online request that lacks request fields the requested on-demand '
        'features need (names them).'),
    Code.EXPRESSION_OVERFLOW: ('An int64 result out of range while an on-demand expression is evaluated online (the '
        'training SQL fails on the engine likewise).'),
    Code.TIE_BREAKER_TYPE: ("A view with a `last` aggregation that rows are pushed to, over a source whose "
        "tie_breaker's type cannot be read when parsing (a table or query, a CSV file) nor is given by a plain "
        "feature of that name; or plain features giving it different dtypes, or a float or boolean one."),
    Code.STATE_UNREADABLE: ('`--state DIR` (`fcompile plan`, a `state:modified` selection) is not the target folder '
        'of an earlier build this fcompile can compare with: missing, no `manifest.json`, not a manifest, or a '
        'manifest of another schema version.'),
    Code.API_QUERY: ("A query parameter the feature server's metadata API (`/api/v1/...`) does not take (with the "
        'closest one as a hint), one given twice, a `limit` outside 1 to 1000 or a negative `offset`, or a lineage '
        '`node` that is not `kind.name` (400).'),
    Code.API_UNKNOWN_NODE: ("A metadata API request naming a dataset or request source the project does not have, or "
        "that the caller's token does not see (404; unknown views, services, entities and sources have their own "
        'codes).'),
    Code.PROFILE_UNREADABLE: ("A feature view's latest profile under `target/profiles/` cannot be read "
        '(tensorflow-metadata not installed, or a damaged file): `GET /api/v1/feature_views/{name}` says so in its '
        '`statistics` and answers the rest.'),
    Code.NO_CATALOG: ("`fcompile docs serve` found no catalog site in the folder it serves: run `fcompile docs "
        "generate` first (or give the folder it wrote with `--site-dir`)."),
    Code.CATALOG_PORT: ("`fcompile docs serve` cannot listen on its host and port (in use, or not allowed): choose "
        "another with `--port`."),
    Code.REQUEST_FIELD_CONFLICT: ('An online request whose on-demand features read a request field named like one of '
        "its join keys, or like a field of another request source, with another dtype: one value in the request's rows "
        'cannot be both.'),
    Code.REQUEST_FIELD_VALUE: ("A request field's value in an online request (`entity_rows`, `entities`, `-e`) that "
        "does not fit the field's dtype (422 over HTTP)."),
}

# Codes that are also reported as warnings: a spec file that is not fcompile's (FC002), a range join declared
# without a ttl (FC016, only ever a warning), a source path that matches no file yet (FC062), a serving grant
# naming an unknown service, view or push source (FC031, FC032, FC034), and, when `fcompile serve` starts, an
# online store that does not answer (FC113, FC114), a schema naming a feature its view lacks (FC190), and views
# never materialized into the online store that a read or the server reads (FC182, only ever a warning).
WARNING_CODES: frozenset[Code] = frozenset({
    Code.FILE_SHAPE, Code.UNBOUNDED_RANGE_JOIN, Code.SOURCE_FILE_NOT_FOUND, Code.UNKNOWN_SOURCE, Code.UNKNOWN_VIEW, Code.UNKNOWN_SERVICE,
    Code.ONLINE_STORE_UNREACHABLE, Code.ONLINE_STORE_ERROR, Code.SCHEMA_FEATURE, Code.NOT_MATERIALIZED,
})
# Of those, the codes never reported as errors: FC016, a view's schema naming a feature the view does not
# have (FC190), and an online read of views never materialized (FC182).
WARNING_ONLY_CODES: frozenset[Code] = frozenset({Code.UNBOUNDED_RANGE_JOIN, Code.SCHEMA_FEATURE, Code.NOT_MATERIALIZED})


@dataclass(frozen=True, order=True)
class Position:
    """A place in a file: 1-based line and column, as editors show them."""

    path: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return self.path
        return f"{self.path}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Diagnostic:
    code: Code
    message: str
    position: Position | None = None
    hint: str | None = None
    severity: Severity = Severity.ERROR

    def sort_key(self) -> tuple:
        p = self.position
        return (p is None, p.path if p else "", p.line if p else 0, p.column if p else 0,
                self.code.value, self.message)

    def render(self, relative_to: str | None = None) -> str:
        where = ""
        if self.position is not None:
            path = display_path(self.position.path, relative_to)
            where = str(Position(path, self.position.line, self.position.column)) + ": "
        # message and hint on a line each, whatever user text they quote: a path or a name with a
        # bidirectional override or ESC (a suggestion quotes one) is shown as escapes, never passed on to
        # the terminal or the log
        text = escape_controls(f"{where}{self.severity.value}[{self.code.value}]: {self.message}")
        if self.hint:
            text += f"\n  hint: {escape_controls(self.hint)}"
        return text

    def to_json(self, relative_to: str | None = None) -> dict:
        p = self.position
        return {
            "severity": self.severity.value,
            "code": self.code.value,
            "message": self.message,
            "hint": self.hint,
            "path": display_path(p.path, relative_to) if p else None,
            "line": p.line if p else None,
            "column": p.column if p else None,
        }


class DiagnosticError(Exception):
    """Raised by a stage with every problem it found; the surfaces render it."""

    def __init__(self, diagnostics: Iterable[Diagnostic]):
        self.diagnostics = sort_diagnostics(diagnostics)
        super().__init__("\n".join(d.render() for d in self.diagnostics))

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]


class DiagnosticSink:
    """Collects diagnostics while a stage runs; `raise_if_errors` ends the stage."""

    def __init__(self) -> None:
        self.items: list[Diagnostic] = []

    def error(self, code: Code, message: str, position: Position | None = None,
              hint: str | None = None) -> None:
        self.items.append(Diagnostic(code, message, position, hint))

    def warning(self, code: Code, message: str, position: Position | None = None,
                hint: str | None = None) -> None:
        self.items.append(Diagnostic(code, message, position, hint, Severity.WARNING))

    def extend(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.items.extend(diagnostics)

    @property
    def has_errors(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self.items)

    def raise_if_errors(self) -> None:
        if self.has_errors:
            raise DiagnosticError(self.items)

    @property
    def warnings(self) -> list[Diagnostic]:
        return sort_diagnostics(d for d in self.items if d.severity is Severity.WARNING)


def sort_diagnostics(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    unique = {(d.code, d.message, d.position, d.hint, d.severity): d for d in diagnostics}
    return sorted(unique.values(), key=Diagnostic.sort_key)


SHOWN_VALUE_CHARS = 80  # the most of a user's value a message quotes


def clipped(text: object, limit: int = SHOWN_VALUE_CHARS) -> str:
    """A value as a message quotes it: its text, cut to `limit` characters with '...' when longer (a message
    never renders a whole value: one can be megabytes)."""
    text = text if isinstance(text, str) else str(text)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def a_or_an(word: str) -> str:
    """The word after its indefinite article: 'an int64', 'a float64' (by its first letter)."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A hint naming the closest candidate, or None when nothing is close."""
    pool = sorted(set(candidates))
    close = difflib.get_close_matches(name, pool, n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in pool}
        close = [lowered[name.lower()]] if name.lower() in lowered else []
    return f"did you mean '{close[0]}'?" if close else None


def known_names_hint(kind: str, candidates: Sequence[str], limit: int = 8) -> str:
    pool = sorted(set(candidates))
    if not pool:
        return f"no {kind} is defined in this project"
    shown = ", ".join(f"'{c}'" for c in pool[:limit])
    more = f" and {len(pool) - limit} more" if len(pool) > limit else ""
    return f"known {kind}s: {shown}{more}"


def reference_hint(name: str, kind: str, candidates: Sequence[str]) -> str:
    return did_you_mean(name, candidates) or known_names_hint(kind, candidates)


def render_json(diagnostics: Sequence[Diagnostic], relative_to: str | None = None) -> str:
    return json.dumps([d.to_json(relative_to) for d in diagnostics], indent=2)


def display_path(path: str, relative_to: str | None) -> str:
    """`path` relative to `relative_to` (default: the working directory), unless it lies outside."""
    base = relative_to if relative_to is not None else os.getcwd()
    try:
        rel = os.path.relpath(path, base)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel
