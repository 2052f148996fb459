"""The labelled corpus is the regression test for the whole rule set."""

from triage.evaluation import evaluate, load_corpus


def test_corpus_is_large_and_varied_enough() -> None:
    records = load_corpus()
    spanish = sum(r["lang"] == "es" for r in records)
    sms = sum(bool(r.get("sms")) for r in records)
    assert len(records) >= 200
    assert spanish >= len(records) / 4
    assert sms >= len(records) / 5
    assert sum(r["urgency"] == "critical" for r in records) >= 20
    assert sum(r["urgency"] == "low" for r in records) >= 50


def test_corpus_critical_recall_accuracy_and_noise_hold() -> None:
    report = evaluate()
    assert not report.critical_missed, report.render()
    assert report.accuracy >= 0.90, report.render()
    assert not report.noise_above_medium, report.render()


def test_evaluation_renders_a_confusion_matrix_with_precision_and_recall() -> None:
    records = [
        {
            "text": "test",
            "urgency": "low",
            "category": "other",
            "lang": "en",
            "minors": False,
            "noise": True,
        },
        {
            "text": "socorro",
            "urgency": "critical",
            "category": "other",
            "lang": "es",
            "minors": False,
            "noise": False,
        },
        {
            "text": "hello",
            "urgency": "high",
            "category": "other",
            "lang": "en",
            "minors": False,
            "noise": False,
        },
    ]
    report = evaluate(records)
    text = report.render()
    assert report.total == 3
    assert report.confusion["high"]["low"] == 1
    assert report.recall("critical") == 1.0
    assert "precision" in text
    assert "recall" in text
    assert "high -> low" in text
