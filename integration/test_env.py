"""7. Bad environment values: exactly one `ppagent:` line naming the variable;
the program's own output and exit status are unchanged.

Empty values: the spec only calls malformed and out-of-range values bad, and
man/ppagent-env.7 says an empty value counts as not set; the test holds the agent
to that (no message, defaults apply).
"""

import pytest

EXIT = 4


def baseline(h):
    r = h.run([h.workload("hello_exit"), str(EXIT)], agent=False, cwd=h.tmpdir("cwd"))
    assert r.returncode == EXIT and r.stderr == "", r.describe()
    return r


@pytest.mark.timeout(60)
def test_success_is_silent(h):
    r = h.run_agent([h.workload("hello_exit"), str(EXIT)], hz=100)
    assert r.returncode == EXIT, r.describe()
    assert r.stderr == "", "a successful run must print nothing on stderr\n" + r.describe()
    h.assert_valid_profile(r.the_profile(), program="hello_exit")


BAD = [
    ("PPROF_CPU_HZ", "abc"),
    ("PPROF_CPU_HZ", "-1"),
    ("PPROF_CPU_HZ", "1001"),
    ("PPROF_CPU_HZ", "12abc"),
    ("PPROF_OUTPUT_DIR", "/nonexistent/ppagent-integration"),
    ("PPROF_CPU_MAX_STACKS", "8"),
    ("PPROF_CPU_MAX_STACKS", "many"),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("var,value", BAD, ids=[f"{k}={v}" for k, v in BAD])
def test_bad_value_one_line(h, var, value):
    base = baseline(h)
    cwd = h.tmpdir("cwd")
    env = {"PPROF_OUTPUT_DIR": cwd, var: value}
    r = h.run([h.workload("hello_exit"), str(EXIT)], cwd=cwd, env=env)
    r.assert_one_complaint(base, var, f'"{value}"' if var != "PPROF_OUTPUT_DIR" else value)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("var", ["PPROF_CPU_HZ", "PPROF_OUTPUT_DIR", "PPROF_CPU_MAX_STACKS"])
def test_empty_value_counts_as_unset(h, var):
    # man/ppagent-env.7: "A variable that is set to the empty string counts as not
    # set": no message, defaults apply (100 Hz, the working directory).
    base = baseline(h)
    cwd = h.tmpdir("cwd")
    env = {"PPROF_OUTPUT_DIR": cwd, var: ""}
    r = h.run([h.workload("hello_exit"), str(EXIT)], cwd=cwd, env=env)
    assert r.returncode == base.returncode and r.stdout == base.stdout, r.describe()
    assert r.stderr == "", "an empty value is not an error\n" + r.describe()
    h.assert_valid_profile(r.the_profile(), hz=100, program="hello_exit")
