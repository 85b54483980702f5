ip netns exec mlab-g1-srv1 unshare --mount --pid --fork --uts --mount-proc --propagation private sh -c '
set -e
hostname srv1
mount -t tmpfs -o mode=0755,size=64m run-g1-srv1 /run
mkdir -m 0755 /run/sshd /run/netns
mount -t tmpfs -o mode=0700,size=64m root-g1-srv1 /root
echo 1 > /proc/sys/net/ipv6/conf/all/forwarding
echo 1 > /proc/sys/net/ipv4/ip_forward
echo 1 > /proc/sys/net/ipv6/conf/all/keep_addr_on_down
exec /usr/sbin/sshd -D -f /var/tmp/lab-golden/srv1/sshd_config -E /var/tmp/lab-golden/srv1/sshd.log
'
