# myikev2 run m4ff9: plumb 1 instance(s) on server srv2
set -e
# Other runs on this server wait while this one creates or joins the bridge
# (and a teardown deleting it waits for this one), for a minute at most.
if command -v flock >/dev/null; then
  exec 9</run
  flock -w 60 9 || { echo "another run has held the bridge lock (flock on /run) for 60 s; nothing was created" >&2; exit 1; }
fi
if ! ip link show myikev2mgmtbrg >/dev/null 2>&1; then
  ip link add myikev2mgmtbrg type bridge
  ip addr add fe80::1/64 dev myikev2mgmtbrg nodad
  ip link set myikev2mgmtbrg up
fi
mkdir -p -m 0755 /run/myikev2/runs/m4ff9/gateway
# Namespaces, veth pairs and data interfaces: one ip process for all.
ip -batch - <<'MYIKEV2_BATCH'
netns add m4ff9-gateway
link add m4ff9h1 group 1836666873 type veth peer name mgmt0 netns m4ff9-gateway
link set m4ff9h1 addrgenmode none
link set m4ff9h1 master myikev2mgmtbrg up
link set m4ff9h1 type bridge_slave mcast_flood off
route replace 2001:db8:2::1:1/128 dev myikev2mgmtbrg
link set data0 netns m4ff9-gateway
MYIKEV2_BATCH
