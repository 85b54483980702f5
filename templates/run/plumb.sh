# myikev2 run {{tag}}: plumb {{count}} instance(s) on server {{server}}
set -e
# Other runs on this server wait while this one creates or joins the bridge
# (and a teardown deleting it waits for this one), for a minute at most.
if command -v flock >/dev/null; then
  exec 9<{{lockDir}}
  flock -w 60 9 || { echo "another run has held the bridge lock (flock on {{lockDir}}) for 60 s; nothing was created" >&2; exit 1; }
fi
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
