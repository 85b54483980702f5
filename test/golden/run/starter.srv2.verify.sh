# myikev2 run m4ff9: list what is left on server srv2 (one line each)
ip netns list 2>/dev/null | awk '{ print $1 }' | grep -E '^m4ff9-' | sed 's/^/netns /'
ip -o link show 2>/dev/null | awk -F': ' '{ print $2 }' | sed 's/@.*//' | grep -E '^m4ff9h[0-9]+$' | sed 's/^/link /'
ip -6 route show 2>/dev/null | awk '{ print $1 }' | grep -xF -e 2001:db8:2::1:1 | sed 's/^/route /'
for f in /run/myikev2/runs/m4ff9 /run/myikev2/runs/m4ff9/gateway /var/log/myikev2/m4ff9/gateway; do if [ -e "$f" ]; then echo "files $f"; fi; done
exit 0
