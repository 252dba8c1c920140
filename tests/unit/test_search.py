from __future__ import annotations

from app.core.search import document, query, tokens


def test_chinese_runs_become_bigrams_and_latin_words_stay_whole() -> None:
    assert tokens("交换机 down") == ["交换", "换机", "down"]
    assert tokens("S5720-EI 端口") == ["s5720-ei", "端口"]
    assert tokens("宕") == ["宕"]


def test_document_deduplicates() -> None:
    assert document("告警 告警", "Alarm alarm") == "告警 警 alarm"


def test_query_prefix_for_latin_exact_for_cjk_and_injection_safe() -> None:
    assert query("电源 swit") == "'电源' & 'swit':*"
    assert query("!!! ???") is None
    assert query("a'b") == "'a':* & 'b':*"
    assert query("x' | 'y") == "'x':* & 'y':*"
