if ip -n {{netns}} link set {{dataIf}} netns $$ 2>/dev/null; then
  restore="$restore"'
{{restoreBatch}}'
elif ip -n {{netns}} link show {{dataIf}} >/dev/null 2>&1; then
  echo "dataif-not-returned {{dataIf}}"
elif ip link show {{dataIf}} >/dev/null 2>&1; then
  restore="$restore"'
{{restoreBatch}}'
else
  echo "warning: data interface {{dataIf}} of {{netns}} is gone: it went with its namespace, deleted outside myikev2 (a veth or other virtual interface does; a physical one comes back to this namespace)"
fi
