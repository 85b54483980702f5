# myikev2 run m4ff9: remove 1 instance(s) on server srv2
set +e
# 1. Stop whatever still runs inside the namespaces (e.g. what `upcmds` daemonised).
ino=$(cd /run/netns 2>/dev/null && stat -L -c %i m4ff9-gateway 2>/dev/null)
if [ -n "$ino" ]; then
  stat -L -c '%i %n' /proc/[0-9]*/ns/net 2>/dev/null \
    | awk -v ino="$ino" 'BEGIN { n = split(ino, a, "\n"); for (i = 1; i <= n; i++) s[a[i]] = 1 }
                         ($1 in s) { split($2, p, "/"); print p[3] }' \
    | xargs -r kill -KILL 2>/dev/null
fi
# 2. Give the data interfaces back to this namespace, as they were.
if ip -n m4ff9-gateway link set data0 netns $$ 2>/dev/null; then
  ip addr add 10.99.0.2/24 dev data0
  ip link set data0 up
elif ip -n m4ff9-gateway link show data0 >/dev/null 2>&1; then
  echo "dataif-not-returned data0"
fi
# 3. The run's veths in one kernel operation by link group, when every link
#    of the group is the run's; then namespaces and host routes. Namespace
#    cleanup removes any veth left (older runs), but later and slower.
if ! ip -o link show group 1836666873 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' | grep -qvE '^m4ff9h[0-9]+$'; then
  ip link del group 1836666873 2>/dev/null
fi
ip -force -batch - <<'MYIKEV2_BATCH' 2>/dev/null
netns del m4ff9-gateway
route del 2001:db8:2::1:1/128 dev myikev2mgmtbrg
MYIKEV2_BATCH
i=0
while [ $i -lt 100 ] && ip -o link show 2>/dev/null | grep -q -E ': m4ff9h(1)@'; do sleep 0.05; i=$((i+1)); done
for v in $(ip -o link show 2>/dev/null | awk -F': ' '{ print $2 }' | sed 's/@.*//' | grep -E '^m4ff9h(1)$'); do ip link del "$v" 2>/dev/null; done
# 4. The bridge, once no run has an instance on it; the run's files.
if [ -z "$(ip -o link show master myikev2mgmtbrg 2>/dev/null)" ]; then ip link del myikev2mgmtbrg 2>/dev/null; fi
rm -rf /run/myikev2/runs/m4ff9/gateway /var/log/myikev2/m4ff9/gateway
# Parents only once empty (servers may share /var/log, like lab servers do).
rmdir /run/myikev2/runs/m4ff9 /run/myikev2/runs /var/log/myikev2/m4ff9 /var/log/myikev2 2>/dev/null || true
