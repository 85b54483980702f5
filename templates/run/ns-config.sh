# myikev2 run {{tag}}: inside {{count}} namespace(s) on server {{server}}.
# The daemon does this itself (netns.configure: no process per namespace
# where perl runs); this script form is for daemons that cannot.
pids=
{{nsJobs}}
fail=0
for p in $pids; do wait "$p" || fail=1; done
exit $fail
