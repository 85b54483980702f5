  # theirs(pid): a process that is neither this script (its session) nor one
  # of its ancestors, which carry the run tag too when the controller was
  # started from an instance environment, and that has not exited meanwhile.
  function st(pid, n,    s, q, f) { s = ""; f = "/proc/" pid "/stat"; getline s < f; close(f); sub(/^.*\) /, "", s); split(s, q, " "); return q[n - 2] }
  function theirs(pid,    ps) { ps = st(pid, 6); return !(pid in mine) && ps != sess && ps != "" }
  BEGIN { sess = st("self", 6); for (up = st("self", 4); up > 1; up = st(up, 4)) mine[up] = 1 }
