import pytest

from solar_lab.leaderboard import TASKS, h6_table


def test_h6_is_the_mean_of_the_six_tasks_where_the_paper_lists_them():
    rows = [row for row in h6_table() if row.tasks]
    assert len(rows) == 5
    for row in rows:
        assert set(row.tasks) == set(TASKS)
        assert sum(row.tasks.values()) / len(TASKS) == pytest.approx(row.h6, abs=0.01)


def test_solar_instruct_tops_the_table():
    rows = h6_table()
    assert rows[0].model == "SOLAR 10.7B-Instruct" and rows[0].h6 == 74.20
    assert [row.h6 for row in rows] == sorted((row.h6 for row in rows), reverse=True)
