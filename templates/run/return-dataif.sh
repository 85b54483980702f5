if ip -n {{netns}} link set {{dataIf}} netns $$ 2>/dev/null; then
  restore="$restore"'
{{restoreBatch}}'
elif ip -n {{netns}} link show {{dataIf}} >/dev/null 2>&1; then
  echo "dataif-not-returned {{dataIf}}"
fi
