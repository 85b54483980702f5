# myikev2 run {{tag}}: remove {{count}} instance(s) on server {{server}}
set +e
# 1. Stop whatever still runs inside the namespaces (e.g. what `upcmds` daemonised).
ino=$(cd /run/netns 2>/dev/null && stat -L -c %i {{netnsList}} 2>/dev/null)
if [ -n "$ino" ]; then
  stat -L -c '%i %n' /proc/[0-9]*/ns/net 2>/dev/null \
    | awk -v ino="$ino" 'BEGIN { n = split(ino, a, "\n"); for (i = 1; i <= n; i++) s[a[i]] = 1 }
                         ($1 in s) { split($2, p, "/"); print p[3] }' \
    | xargs -r kill -KILL 2>/dev/null
fi
# 2. Give the data interfaces back to this namespace, as they were.
{{dataIfReturns}}
# 3. The run's veths in one kernel operation by link group, when every link
#    of the group is the run's; then namespaces and host routes. Namespace
#    cleanup removes any veth left (older runs), but later and slower.
?group if ! ip -o link show group {{group}} 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' | grep -qvE '^{{tag}}h[0-9]+$'; then
?group   ip link del group {{group}} 2>/dev/null
?group fi
ip -force -batch - <<'MYIKEV2_BATCH' 2>/dev/null
{{baseBatch}}
MYIKEV2_BATCH
i=0
while [ $i -lt 100 ] && ip -o link show 2>/dev/null | grep -q -E ': {{tag}}h({{ids}})@'; do sleep 0.05; i=$((i+1)); done
for v in $(ip -o link show 2>/dev/null | awk -F': ' '{ print $2 }' | sed 's/@.*//' | grep -E '^{{tag}}h({{ids}})$'); do ip link del "$v" 2>/dev/null; done
# 4. The bridge, once no run has an instance on it; the run's files.
if [ -z "$(ip -o link show master {{bridge}} 2>/dev/null)" ]; then ip link del {{bridge}} 2>/dev/null; fi
?instanceDirs rm -rf {{instanceDirs}}
# Parents only once empty (servers may share /var/log, like lab servers do).
rmdir {{emptyDirs}} 2>/dev/null || true
