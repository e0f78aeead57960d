from sqlglot.dialects.dialect import Dialect

from fcompile.sql_names import SQLGLOT_RESERVED, TARGET_DIALECTS, dialects_reserving, reserved_words


def test_copied_lists_match_the_pinned_sqlglot():
    for dialect, words in SQLGLOT_RESERVED.items():
        generator = Dialect.get_or_raise(dialect).generator_class
        assert set(words.split()) == {w.lower().strip() for w in generator.RESERVED_KEYWORDS}  # sqlglot lists "encrypt     ", dialect


def test_every_target_has_a_list_and_common_words_are_reserved_everywhere():
    words = reserved_words()
    assert set(words) == set(TARGET_DIALECTS)
    for dialect in TARGET_DIALECTS:
        assert {"select", "from", "where"} <= words[dialect], dialect


def test_dialects_reserving_is_case_insensitive_and_names_the_dialects():
    assert "snowflake" in dialects_reserving("Sample")
    assert "postgres" in dialects_reserving("USER")
    assert dialects_reserving("conv_rate") == []
