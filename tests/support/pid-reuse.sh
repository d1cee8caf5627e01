#!/bin/sh
# Runs as PID 1 of a new pid namespace, with rmanager as $1 and the signal that ends it as
# $2. Writes to `result`: whether a process that took over the group id of a finished
# setup step survived, or why the scenario could not be set up.
cat > env.json <<'JSON'
{"processes": {
  "setup": {"executable": "sh", "arguments": ["-c", "echo $$ > setup.pid"], "verifier": {"type": "exited"}},
  "service": {"executable": "sh", "arguments": ["-c", "echo $$ > service.pid; exec sleep 600"]}
}}
JSON
rm -f setup.pid service.pid out result
"$1" -f env.json > out 2>&1 &
manager=$!
for _ in $(seq 300); do [ -s service.pid ] && break; sleep 0.05; done
[ -s service.pid ] || { echo "not started" > result; kill -9 $manager; exit; }
setup=$(cat setup.pid)
service=$(cat service.pid)
# A new group leader with the setup step's old pid: the group id a stale record names.
for _ in $(seq 50); do
  echo $((setup - 1)) > /proc/sys/kernel/ns_last_pid
  setsid sleep 600 &
  victim=$!
  [ "$victim" = "$setup" ] && break
  kill -9 $victim
done
[ "$victim" = "$setup" ] || { echo "pid not reused" > result; kill -9 $manager; exit; }
# Once it runs sleep, setsid has made it the leader of group $victim.
for _ in $(seq 300); do grep -q "^$victim (sleep) " /proc/$victim/stat && break; sleep 0.01; done
kill -"$2" $manager
wait $manager
# Everything rmanager or its watchdog will kill is killed by the time the service is gone.
for _ in $(seq 300); do kill -0 $service 2>/dev/null || break; sleep 0.05; done
if kill -0 $victim 2>/dev/null; then echo "victim survived" > result; else echo "victim killed" > result; fi
kill -9 $victim 2>/dev/null
# The namespace ends with this shell, killing all in it: first let the watchdog remove
# the environment's cgroup, which outlives the namespace.
for _ in $(seq 100); do
  grep -qx rmgr-watchdog /proc/[0-9]*/comm 2>/dev/null || break
  sleep 0.05
done
