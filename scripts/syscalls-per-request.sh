#!/usr/bin/env bash
# Work per request of a running proxy under wrk, counted by the kernel rather
# than timed: system calls by kind, context switches and CPU (perf stat
# tracepoints on the process and its children), divided by the requests wrk
# completed. Needs perf (Debian's linux-perf) and root, or
# kernel.perf_event_paranoid <= -1 for the syscall tracepoints.
#
#   scripts/syscalls-per-request.sh PID URL [HEADER] [SECONDS]
#
# e.g. beside nginx in one run (docs/benchmarks.md, "Hybrid mode"):
#   scripts/syscalls-per-request.sh "$(cat nginx.pid)" http://127.0.0.1:8080/
#   scripts/syscalls-per-request.sh "$GW_PID" http://127.0.0.1:8081/bench/ "Ocp-Apim-Subscription-Key: $KEY"
# Counts move with the machine's load (a busier loop finds more connections
# ready per wake-up), so compare rows measured in the same minutes.
set -euo pipefail
pid=$1 url=$2 hdr=${3:-X-Bench: 1} secs=${4:-4}
ev=context-switches,task-clock
for s in read recvfrom write writev sendto epoll_wait epoll_pwait futex nanosleep sched_yield fdatasync; do
	ev+=,syscalls:sys_enter_$s
done
out=$(mktemp)
trap 'rm -f "$out"' EXIT
perf stat -x, -e "$ev" -p "$(echo "$pid" $(pgrep -P "$pid" || true) | tr ' ' ,)" -o "$out" sleep "$secs" &
sp=$!
res=$(wrk -t2 -c64 -d"${secs}s" -H "$hdr" "$url")
wait "$sp"
reqs=$(awk '/requests in/{print $1}' <<<"$res")
awk -F, -v r="$reqs" 'BEGIN{printf "requests %d:", r}
	$3 ~ /sys_enter|context-switches|task-clock/ {
		k=$3; sub("syscalls:sys_enter_","",k)
		if (k=="task-clock") printf " cpu-us=%.1f", $1*1000/r
		else if ($1+0 > 0) printf " %s=%.3f", k, $1/r
	} END{print " (per request)"}' "$out"
