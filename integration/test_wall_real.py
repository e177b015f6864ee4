"""Issue 14, a real program: postgres under pgbench with the wall-clock
profile on (PPROF_WALL_HZ=100), reusing test_real_world.py's cluster and
session. Every process prints the same output and ends with the same status
as without the agent, and the server's wall profiles show where it waits:
the backends and helpers in epoll_wait (WaitEventSetWait), labelled
state=syscall with the call's name."""

import re
import shutil
import tempfile
from pathlib import Path

import pytest

from test_real_world import (PGBIN, assert_same, describe, need, pg_cluster,  # noqa: F401
                             pg_exits, pg_session, pgbench_normal)

WALL = {"PPROF_WALL_HZ": 100}


@pytest.mark.timeout(900)
def test_postgres_pgbench_wall(h, pg_cluster):  # noqa: F811
    need(PGBIN / "pgbench")
    plain, plain_clients, _, _ = pg_session(h, None, pg_cluster, h.tmpdir("pgplain"))
    out = Path(tempfile.mkdtemp(prefix="ppagent-pgwall-"))
    out.chmod(0o1777)  # the server runs as user postgres
    try:
        run, clients, postmaster, _ = pg_session(h, "defaults", pg_cluster, out, env=WALL)
        for name, a, b in zip(("postmaster", "pgbench -i", "pgbench", "psql"),
                              [plain, *plain_clients], [run, *clients]):
            assert_same(a, b, pgbench_normal, name)
        assert pg_exits(run.stderr) == pg_exits(plain.stderr), describe(run)
        walls = sorted(out.glob("postgres.*.wall.pb.gz"))
        assert f"postgres.{postmaster}.wall.pb.gz" in [p.name for p in walls], (
            sorted(p.name for p in out.iterdir()))
        by_call, total, busiest = {}, 0, (0, None)
        for path in walls:
            view = h.decode(path)
            assert view.sample_types() == [("samples", "count"), ("wall", "nanoseconds")]
            h.pprof_raw(path)  # go tool pprof reads every file
            i = view.value_index("wall")
            for s in view.p.sample:
                labels = view.labels(s)
                key = labels.get("syscall", labels["state"])
                by_call[key] = by_call.get(key, 0) + s.value[i]
                total += s.value[i]
            in_epoll = sum(s.value[i] for s in view.p.sample
                           if view.labels(s).get("syscall") == "epoll_wait")
            busiest = max(busiest, (in_epoll, path), key=lambda t: t[0])
        # A server mostly waits for work, in epoll_wait (its WaitEventSet).
        waits = sum(v for k, v in by_call.items() if k != "running")
        assert by_call.get("epoll_wait", 0) >= 0.3 * total, by_call
        assert waits >= 0.5 * total, by_call
        top, _ = h.pprof_top(busiest[1], extra=["-tagfocus=syscall=epoll_wait"])
        assert any("WaitEventSetWait" in name for name in top.rows), top.text
        print("\npostgres wall time by state/call (s): " + ", ".join(
            f"{k} {v / 1e9:.1f}" for k, v in sorted(by_call.items(), key=lambda kv: -kv[1])))
    finally:
        shutil.rmtree(out, ignore_errors=True)
