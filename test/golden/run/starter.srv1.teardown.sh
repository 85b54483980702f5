# myikev2 run m4ff9: remove 1 instance(s) on server srv1
set +e
# 1. Stop whatever still runs inside the namespaces (e.g. what `upcmds`
#    daemonised): one stat gives the namespaces' inodes and every process's.
#    The whole run: also what carries its tag anywhere (instances' children
#    inherit MYIKEV2_TAG), e.g. a process that left its namespace; not this
#    script's own processes and their ancestors (a controller started from
#    an instance's environment carries the tag too).
{
  stat -L -c '%i %n' /run/netns/m4ff9-client /proc/[0-9]*/ns/net
  grep -lszxF 'MYIKEV2_TAG=m4ff9' /proc/[0-9]*/environ
} 2>/dev/null | awk '
  # theirs(pid): a process that is neither this script (its session) nor one
  # of its ancestors, which carry the run tag too when the controller was
  # started from an instance environment, and that has not exited meanwhile.
  function st(pid, n,    s, q, f) { s = ""; f = "/proc/" pid "/stat"; getline s < f; close(f); sub(/^.*\) /, "", s); split(s, q, " "); return q[n - 2] }
  function theirs(pid,    ps) { ps = st(pid, 6); return !(pid in mine) && ps != sess && ps != "" }
  BEGIN { sess = st("self", 6); for (up = st("self", 4); up > 1; up = st(up, 4)) mine[up] = 1 }
  $2 ~ /^\/run\/netns\// { ns[$1] = 1; next }
  /^\/proc\/[0-9]+\/environ$/ { split($1, p, "/"); if (theirs(p[3])) pids = pids " " p[3]; next }
  ($1 in ns) { split($2, p, "/"); pids = pids " " p[3] }
  END { if (pids != "") system("kill -KILL" pids " 2>/dev/null") }'
# The instances' logs, for the controller to keep, before their files go.
if cd /var/log/myikev2/m4ff9 2>/dev/null; then
  set -- $(ls -d client 2>/dev/null)
  [ $# -eq 0 ] || { echo '@@myikev2-logs@@'; tar -czf - "$@" 2>/dev/null | base64 -w0; echo; }
  cd /
fi
# The run's files go in the background, while the kernel removes the links.
rm -rf /run/myikev2/runs/m4ff9/client /var/log/myikev2/m4ff9/client &
# 2. Give the data interfaces back to this namespace, then their addresses
#    and up/down state as they were, in one ip process.
restore=
if ip -n m4ff9-client link set data0 netns $$ 2>/dev/null; then
  restore="$restore"'
addr add 10.99.0.1/24 dev data0
addr add fd00:99::1/64 dev data0
link set data0 up'
elif ip -n m4ff9-client link show data0 >/dev/null 2>&1; then
  echo "dataif-not-returned data0"
elif ip link show data0 >/dev/null 2>&1; then
  restore="$restore"'
addr add 10.99.0.1/24 dev data0
addr add fd00:99::1/64 dev data0
link set data0 up'
else
  echo "warning: data interface data0 of m4ff9-client is gone: it went with its namespace, deleted outside myikev2 (a veth or other virtual interface does; a physical one comes back to this namespace)"
fi
[ -z "$restore" ] || printf '%s\n' "$restore" | ip -force -batch -
# 3. The bridge first, when nothing but these instances' veths is on it:
#    their host routes go with it, and the veths leave it in one operation
#    (~55 ms less kernel time per 100 instances than route by route).
#    Then the run's veths in one kernel operation by link group, when every
#    link of the group is the run's; then the namespaces (and the host
#    routes, if the bridge stays).
#    Runs sharing the bridge take turns (a run joining it waits; after a
#    minute this goes on without the lock rather than leave the run).
if command -v flock >/dev/null; then exec 9</run; flock -w 60 9; fi
brgone=
if ip -o link show master myikev2mgmtbrg 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2) } $2 !~ /^m4ff9h(2)$/ { other = 1 } END { exit other }'; then
  ip link del myikev2mgmtbrg 2>/dev/null && brgone=1
fi
bygroup=
if ip -o link show group 1836666873 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2) } $2 !~ /^m4ff9h[0-9]+$/ { foreign = 1 } END { exit foreign || NR == 0 }'; then
  ip link del group 1836666873 2>/dev/null && bygroup=1
fi
{
  cat <<'MYIKEV2_BATCH'
netns del m4ff9-client
MYIKEV2_BATCH
  [ -n "$brgone" ] || cat <<'MYIKEV2_BATCH'
route del 2001:db8:1::1:2/128 dev myikev2mgmtbrg
MYIKEV2_BATCH
} | ip -force -batch - 2>/dev/null
exec 9<&-
# Veths left (not deleted by group: a run made before link groups, or not
# the whole run) go with their namespace, later: wait for that, then delete
# any still there.
if [ -z "$bygroup" ]; then
  left() { ip -o link show 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2) } $2 ~ /^m4ff9h(2)$/ { print $2 }'; }
  i=0
  while v=$(left); [ -n "$v" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
  for x in $v; do ip link del "$x" 2>/dev/null; done
fi
wait
# Parents only once empty (servers may share /var/log, like lab servers do).
rmdir /run/myikev2/runs/m4ff9 /run/myikev2/runs /var/log/myikev2/m4ff9 /var/log/myikev2 2>/dev/null || true
