# myikev2 run m4ff9: list what is left on server srv1 (one line each)
ip netns list 2>/dev/null | awk '$1 ~ /^m4ff9-/ { print "netns " $1 }'
ip -o link show 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2) } $2 ~ /^m4ff9h[0-9]+$/ { print "link " $2 }'
ip -6 route show 2>/dev/null | awk -v a=2001:db8:1::1:2 'BEGIN { n = split(a, x, " "); for (i = 1; i <= n; i++) s[x[i]] = 1 } ($1 in s) { print "route " $1 }'
for f in /run/myikev2/runs/m4ff9 /run/myikev2/runs/m4ff9/client /var/log/myikev2/m4ff9/client; do if [ -e "$f" ]; then echo "files $f"; fi; done
exit 0
