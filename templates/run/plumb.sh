# myikev2 run {{tag}}: plumb {{count}} instance(s) on server {{server}}
set -e
if ! ip link show {{bridge}} >/dev/null 2>&1; then
  ip link add {{bridge}} type bridge
  ip addr add {{gateway}}/64 dev {{bridge}} nodad
  ip link set {{bridge}} up
fi
mkdir -p -m 0755 {{runDirs}}
# Namespaces, veth pairs and data interfaces: one ip process for all.
ip -batch - <<'MYIKEV2_BATCH'
{{baseBatch}}
MYIKEV2_BATCH
