if ip -n {{netns}} link set {{dataIf}} netns $$ 2>/dev/null; then
{{restore}}
fi
