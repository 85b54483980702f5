# myikev2 run m4ff9: list what is left on server srv2 (one line each)
for f in /run/netns/m4ff9-*; do if [ -e "$f" ]; then echo "netns ${f##*/}"; fi; done
# One awk over everything else: links, host routes to the management
# addresses, xfrm state and policies naming the run's addresses, processes
# carrying its tag, Unix sockets under its paths.
{
  echo @link; ip -o link show
  echo @route; ip -6 route show
  echo @state; ip -o xfrm state
  echo @policy; ip -o xfrm policy
  echo @process; grep -lszxF 'MYIKEV2_TAG=m4ff9' /proc/[0-9]*/environ
} 2>/dev/null | awk -v tag='m4ff9' -v mgmt=2001:db8:2::1:1 -v addrs=2001:db8:2::1:1 '
  # theirs(pid): a process that is neither this script (its session) nor one
  # of its ancestors, which carry the run tag too when the controller was
  # started from an instance environment, and that has not exited meanwhile.
  function st(pid, n,    s, q, f) { s = ""; f = "/proc/" pid "/stat"; getline s < f; close(f); sub(/^.*\) /, "", s); split(s, q, " "); return q[n - 2] }
  function theirs(pid,    ps) { ps = st(pid, 6); return !(pid in mine) && ps != sess && ps != "" }
  BEGIN { sess = st("self", 6); for (up = st("self", 4); up > 1; up = st(up, 4)) mine[up] = 1 }
  BEGIN {
    n = split(mgmt, x, " "); for (i = 1; i <= n; i++) m[x[i]] = 1
    n = split(addrs, x, " "); for (i = 1; i <= n; i++) a[x[i]] = 1
    while ((getline l < "/proc/net/unix") > 0) { k = split(l, u, " "); if (k >= 8 && index(u[k], "/" tag "/")) print "socket " u[k] }
  }
  /^@/ { sec = $0; next }
  sec == "@link" { split($0, p, ": "); sub(/@.*/, "", p[2]); if (p[2] ~ ("^" tag "h[0-9]+$")) print "link " p[2]; next }
  sec == "@route" { if ($1 in m) print "route " $1; next }
  # Named by their selectors only: the line of a state also holds its keys.
  sec == "@state" || sec == "@policy" {
    hit = 0; w = ""; split("", seen)
    for (i = 1; i < NF; i++) {
      if ($i == "src" || $i == "dst") { v = $(i + 1); sub(/\/[0-9]+$/, "", v); if (v in a) hit = 1 }
      if (($i == "src" || $i == "dst" || $i == "proto" || $i == "spi" || $i == "dir") && !($i in seen)) { seen[$i] = 1; w = w " " $i " " $(i + 1) }
    }
    if (hit) print "xfrm " substr(sec, 2) w
    next
  }
  sec == "@process" { split($0, p, "/"); if (!theirs(p[3])) next; c = ""; f = "/proc/" p[3] "/comm"; getline c < f; close(f); print "process " p[3] " (" c ")" }' || echo "check failed: awk exited $? (nothing above can be trusted)"
for f in /run/myikev2/runs/m4ff9 /run/myikev2/runs/m4ff9/gateway /var/log/myikev2/m4ff9/gateway; do if [ -e "$f" ]; then echo "files $f"; fi; done
exit 0
