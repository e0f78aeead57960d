from fcompile.diagnostics import Code, Position
from fcompile.parser.positioned_yaml import load_yaml


def test_values_and_keys_keep_their_line_and_column():
    text = "feature_views:\n  - name: a\n    ttl: 2h\n    features:\n      - {name: x, dtype: int64}\n"
    doc, problems = load_yaml("f.yml", text)
    assert problems == []
    assert doc.data == {"feature_views": [{"name": "a", "ttl": "2h", "features": [{"name": "x", "dtype": "int64"}]}]}
    assert doc.position(("feature_views", 0, "ttl")) == Position("f.yml", 3, 10)
    assert doc.key_position(("feature_views", 0, "ttl")) == Position("f.yml", 3, 5)
    assert doc.position(("feature_views", 0, "features", 0, "dtype")) == Position("f.yml", 5, 26)
    # an unknown path falls back to its nearest known ancestor
    assert doc.position(("feature_views", 0, "nope", 3)) == Position("f.yml", 2, 5)


def test_scalars_resolve_like_yaml_but_keys_stay_as_written():
    doc, _ = load_yaml("f.yml", "yes: yes\nn: 12\nf: 1.5\nz: ~\nq: 'true'\nd: 2024-01-01\n")
    assert doc.data == {"yes": True, "n": 12, "f": 1.5, "z": None, "q": "true", "d": "2024-01-01"}


def test_duplicate_keys_are_reported_not_silently_overwritten():
    doc, problems = load_yaml("f.yml", "a: 1\nb: 2\na: 3\n")
    assert doc.data == {"a": 1, "b": 2}
    assert [(p.code, p.position.line, p.message) for p in problems] == [
        (Code.DUPLICATE_MEMBER, 3, "duplicate key 'a' (first set at line 1)")]


def test_anchors_aliases_and_merge_keys():
    text = "base: &b {dtype: int64, description: d}\nk: {<<: *b, name: x, dtype: string}\nl: [*b]\n"
    doc, problems = load_yaml("f.yml", text)
    assert problems == []
    assert doc.data["k"] == {"name": "x", "dtype": "string", "description": "d"}
    assert doc.data["l"] == [{"dtype": "int64", "description": "d"}]


def test_syntax_errors_are_diagnostics_with_positions():
    doc, problems = load_yaml("f.yml", "a:\n  - b\n c: d\n")
    assert doc is None
    assert problems[0].code is Code.YAML_SYNTAX and problems[0].position.line == 3
    _, problems = load_yaml("f.yml", "a:\n\t- b\n")
    assert problems[0].code is Code.YAML_SYNTAX and "tab" in (problems[0].hint or "")


def test_several_documents_and_unknown_aliases_are_rejected():
    _, problems = load_yaml("f.yml", "a: 1\n---\nb: 2\n")
    assert problems[0].code is Code.FILE_SHAPE and problems[0].position.line == 2
    _, problems = load_yaml("f.yml", "a: *nope\n")
    assert problems[0].code is Code.YAML_SYNTAX


def test_empty_file_is_no_data():
    doc, problems = load_yaml("f.yml", "# only a comment\n")
    assert problems == [] and doc.data is None


def test_aliases_may_copy_in_up_to_the_budget_and_no_more():
    from fcompile.parser.positioned_yaml import MAX_ALIAS_NODES

    # one anchored list of 999 values plus itself: 1,000 nodes per alias
    text = "a: &a [" + ",".join(["x"] * 999) + "]\nb: [" + ",".join(["*a"] * (MAX_ALIAS_NODES // 1000)) + "]\n"
    doc, problems = load_yaml("f.yml", text)
    assert problems == [] and len(doc.data["b"]) == MAX_ALIAS_NODES // 1000
    doc, problems = load_yaml("f.yml", text[:-2] + ",*a]\n")
    assert doc is None
    assert [(p.code, p.position, p.message) for p in problems] == [
        (Code.FILE_SHAPE, Position("f.yml", 2, 5 + 3 * (MAX_ALIAS_NODES // 1000)),
         f"the aliases of this file expand to more than {MAX_ALIAS_NODES:,} values (this '*a' alone copies 1,000)")]


def test_nested_aliases_count_what_they_expand_to():
    """Each level repeats the one before: the anchor's size is counted with its own aliases expanded."""
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, 9)]
    doc, problems = load_yaml("f.yml", "\n".join(lines) + "\n")
    assert doc is None and problems[0].code is Code.FILE_SHAPE and problems[0].position.line == 6
