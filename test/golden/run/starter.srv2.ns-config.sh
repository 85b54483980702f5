# myikev2 run m4ff9: inside 1 namespace(s) on server srv2.
# The daemon does this itself (netns.configure: no process per namespace
# where perl runs); this script form is for daemons that cannot.
pids=
ip -n m4ff9-gateway -batch - <<'MYIKEV2_BATCH' &
link set lo up
link set mgmt0 addrgenmode none
link set mgmt0 up
addr replace 2001:db8:2::1:1/64 dev mgmt0 nodad
route replace ::/0 via fe80::1 dev mgmt0
link set data0 up
xfrm state flush
xfrm policy flush
addr add 172.31.0.1/16 dev data0
MYIKEV2_BATCH
pids="$pids $!"
fail=0
for p in $pids; do wait "$p" || fail=1; done
exit $fail
