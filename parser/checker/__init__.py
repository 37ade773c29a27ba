"""The prediction checker: from result records to every prediction's verdict.

`pairs.py` finds the seed-paired runs and scores them (`scoring.py`: one pair's score),
`evidence.py` gathers the scores of one prediction by region, or along a declared range
(`along.py`, with the line's statistics in `trend.py`), `verdicts.py` turns them into a
guarded decision, and `stats.py` holds the pure statistics under all of them.
"""
