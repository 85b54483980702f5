# myikev2 run {{tag}}: list what is left on server {{server}} (one line each)
ip netns list 2>/dev/null | awk '{ print $1 }' | grep -E '^{{tag}}-' | sed 's/^/netns /'
ip -o link show 2>/dev/null | awk -F': ' '{ print $2 }' | sed 's/@.*//' | grep -E '^{{tag}}h[0-9]+$' | sed 's/^/link /'
{{routeChecks}}
for f in {{dirs}}; do if [ -e "$f" ]; then echo "files $f"; fi; done
exit 0
