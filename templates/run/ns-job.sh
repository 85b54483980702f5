ip -n {{netns}} -batch - <<'MYIKEV2_BATCH' &
{{nsBatch}}
MYIKEV2_BATCH
pids="$pids $!"
