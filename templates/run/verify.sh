# myikev2 run {{tag}}: list what is left on server {{server}} (one line each)
ip netns list 2>/dev/null | awk '$1 ~ /^{{tag}}-/ { print "netns " $1 }'
ip -o link show 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2) } $2 ~ /^{{tag}}h[0-9]+$/ { print "link " $2 }'
{{routeChecks}}
for f in {{dirs}}; do if [ -e "$f" ]; then echo "files $f"; fi; done
exit 0
