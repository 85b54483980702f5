# myikev2 run {{tag}}: remove {{count}} instance(s) on server {{server}}
set +e
# 1. Stop whatever still runs inside the namespaces (e.g. what `upcmds`
#    daemonised): one stat gives the namespaces' inodes and every process's.
#    The whole run: also what carries its tag anywhere (instances' children
#    inherit MYIKEV2_TAG), e.g. a process that left its namespace; not this
#    script's own processes and their ancestors (a controller started from
#    an instance's environment carries the tag too).
{
  stat -L -c '%i %n' {{netnsPaths}} /proc/[0-9]*/ns/net
?whole   grep -lszxF 'MYIKEV2_TAG={{tag}}' /proc/[0-9]*/environ
} 2>/dev/null | awk '
{{notThisScript}}
  $2 ~ /^\/run\/netns\// { ns[$1] = 1; next }
  /^\/proc\/[0-9]+\/environ$/ { split($1, p, "/"); if (theirs(p[3])) pids = pids " " p[3]; next }
  ($1 in ns) { split($2, p, "/"); pids = pids " " p[3] }
  END { if (pids != "") system("kill -KILL" pids " 2>/dev/null") }'
?logNames # The instances' logs, for the controller to keep, before their files go.
?logNames if cd {{logRoot}} 2>/dev/null; then
?logNames   set -- $(ls -d {{logNames}} 2>/dev/null)
?logNames   [ $# -eq 0 ] || { echo '{{logsMarker}}'; tar -czf - "$@" 2>/dev/null | base64 -w0; echo; }
?logNames   cd /
?logNames fi
# The run's files go in the background, while the kernel removes the links.
?instanceDirs rm -rf {{instanceDirs}} &
# 2. Give the data interfaces back to this namespace, then their addresses
#    and up/down state as they were, in one ip process.
?dataIfReturns restore=
?dataIfReturns {{dataIfReturns}}
?dataIfReturns [ -z "$restore" ] || printf '%s\n' "$restore" | ip -force -batch -
# 3. The bridge first, when nothing but these instances' veths is on it:
#    their host routes go with it, and the veths leave it in one operation
#    (~55 ms less kernel time per 100 instances than route by route).
#    Then the run's veths in one kernel operation by link group, when every
#    link of the group is the run's; then the namespaces (and the host
#    routes, if the bridge stays).
#    Runs sharing the bridge take turns (a run joining it waits; after a
#    minute this goes on without the lock rather than leave the run).
if command -v flock >/dev/null; then exec 9<{{lockDir}}; flock -w 60 9; fi
brgone=
if ip -o link show master {{bridge}} 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2) } $2 !~ /^{{tag}}h({{ids}})$/ { other = 1 } END { exit other }'; then
  ip link del {{bridge}} 2>/dev/null && brgone=1
fi
bygroup=
?group if ip -o link show group {{group}} 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2) } $2 !~ /^{{tag}}h[0-9]+$/ { foreign = 1 } END { exit foreign || NR == 0 }'; then
?group   ip link del group {{group}} 2>/dev/null && bygroup=1
?group fi
{
  cat <<'MYIKEV2_BATCH'
{{netnsBatch}}
MYIKEV2_BATCH
  [ -n "$brgone" ] || cat <<'MYIKEV2_BATCH'
{{routeBatch}}
MYIKEV2_BATCH
} | ip -force -batch - 2>/dev/null
exec 9<&-
# Veths left (not deleted by group: a run made before link groups, or not
# the whole run) go with their namespace, later: wait for that, then delete
# any still there.
if [ -z "$bygroup" ]; then
  left() { ip -o link show 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2) } $2 ~ /^{{tag}}h({{ids}})$/ { print $2 }'; }
  i=0
  while v=$(left); [ -n "$v" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
  for x in $v; do ip link del "$x" 2>/dev/null; done
fi
wait
# Parents only once empty (servers may share /var/log, like lab servers do).
rmdir {{emptyDirs}} 2>/dev/null || true
