"""The table's statistics: bold only for a significant best, ties marked; reproduce's tolerance from the
reference's own seed spread."""

from bench import reproduce, table


def group(col: str, values: list[float], higher: bool = True) -> table.Group:
    return table.Group("r", col, "acc", higher, values={"acc": values})


def test_best_is_bold_only_when_significantly_better_than_every_other_cell():
    a, b, c = group("a", [0.90, 0.91, 0.92]), group("b", [0.80, 0.81, 0.79]), group("c", [0.5, 0.52, 0.51])
    table.mark_best([a, b, c])
    assert (a.best, a.tied, b.tied, c.tied) == (True, False, False, False)
    a, b, c = group("a", [0.90, 0.91, 0.92]), group("b", [0.85, 0.95, 0.90]), group("c", [0.5, 0.52, 0.51])
    table.mark_best([a, b, c])  # b's spread hides a 0.01 difference: tied, and so the best is not bold
    assert (a.best, a.tied, b.tied, c.tied) == (False, True, True, False)
    one, many = group("one", [0.99]), group("many", [0.5, 0.6, 0.55])
    table.mark_best([one, many])  # a single run cannot be tested: tied, never bold
    assert (one.best, one.tied, many.tied) == (False, True, True)
    x, y = group("x", [0.3, 0.3, 0.3], higher=False), group("y", [0.4, 0.4, 0.4], higher=False)
    table.mark_best([x, y])  # no spread on either side: the means decide
    assert x.best and not y.tied


REF = (
    "row,model,clip,metric,mean,std,n,best,diverged,failed\nspeech/dtmf,lstm,none,acc,0.85,0.01,3,1,0,0\n"
    "speech/dtmf,lstm,none,loss,1.0,0,1,0,0,0\nspeech/dtmf,lstm,none,wall_time_s,3,0,3,0,0,0\n"
    "speech/dtmf,lstm,none,params,100,0,3,0,0,0\n"
)


def test_compare_tolerances_come_from_the_seed_spread():
    """acc: 3 seeds with std 0.01 allow 3 * 0.01 * sqrt(1/3 + 1/3) = 0.0245; loss (one seed) falls back to
    5 % relative; params (no spread) must match exactly; wall time is never compared."""
    new = REF.replace("1.0,0,1", "1.04,0,1").replace("wall_time_s,3", "wall_time_s,9")
    rows, ok = reproduce.compare(REF, new.replace("0.85,0.01", "0.83,0.01"), {})
    assert ok and [r[1] for r in rows] == ["acc", "loss", "params"] and rows[0][4] == "±0.0245"
    rows, ok = reproduce.compare(REF, REF.replace("0.85,0.01", "0.82,0.01"), {})
    assert not ok and rows[0][-1] == "MISMATCH"
    assert not reproduce.compare(REF, REF.replace("loss,1.0", "loss,1.06"), {})[1]
    assert not reproduce.compare(REF, REF.replace("params,100", "params,101"), {})[1]
    assert reproduce.compare(REF, REF.replace("0.85,0.01", "0.82,0.01"), {"acc": 0.05})[
        1
    ]  # a suite's fixed one
