"""The prediction checker: from result records to every prediction's verdict.

`pairs.py` finds the seed-paired runs and scores them, `evidence.py` gathers the
scores of one prediction by region, `verdicts.py` turns them into a guarded
decision, and `stats.py` holds the pure statistics under all three.
"""
