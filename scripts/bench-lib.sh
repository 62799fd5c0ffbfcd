#!/usr/bin/env bash
# Helpers the benchmark drivers (scripts/bench-*.sh) share. Source it, then
# set $work, the run's temporary directory (bench_workdir does it and the
# clean-up), before the helpers that write there.

# bench_workdir NAME makes $work (/tmp/apimgw-NAME.XXXXXX) and an empty pids
# array, raises the open-file limit, and on exit kills every pid in pids and
# the nginx-proxy / nginx-backend that nginx_conf started, then removes $work.
bench_workdir() {
	work=$(mktemp -d "/tmp/apimgw-$1.XXXXXX")
	pids=()
	trap bench_cleanup EXIT
	ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
}
bench_cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for n in nginx-proxy nginx-backend; do
		[ -f "$work/$n.pid" ] && kill "$(cat "$work/$n.pid")" 2>/dev/null || true
	done
	sleep 0.3
	rm -rf "$work"
}

# free_port prints a free TCP port on 127.0.0.1.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# nginx_conf NAME WORKERS BODY writes $work/NAME.conf (an http block holding
# BODY, its files under $work) and starts nginx with it.
nginx_conf() {
	cat >"$work/$1.conf" <<NGX
worker_processes $2;
pid $work/$1.pid;
error_log $work/$1-error.log warn;
worker_rlimit_nofile 65536;
events { worker_connections 20000; }
http {
	access_log off;
	client_body_temp_path $work/$1-body;
	proxy_temp_path $work/$1-proxy;
	fastcgi_temp_path $work/$1-fcgi;
	uwsgi_temp_path $work/$1-uwsgi;
	scgi_temp_path $work/$1-scgi;
	keepalive_requests 1000000;
	keepalive_timeout 120s;
	$3
}
NGX
	nginx -c "$work/$1.conf" -e "$work/$1-error.log"
}

# cpu_ticks PID prints the CPU ticks (user+system) of a process and its
# children (nginx workers).
cpu_ticks() {
	local total=0 p
	for p in "$@" $(pgrep -P "$1" 2>/dev/null || true); do
		[ -r "/proc/$p/stat" ] || continue
		total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat")))
	done
	echo "$total"
}

# switches PID prints the voluntary + involuntary context switches of every
# thread of a process and its children.
switches() {
	local p s=0
	for p in "$@" $(pgrep -P "$1" 2>/dev/null || true); do
		s=$((s + $(cat /proc/"$p"/task/*/status 2>/dev/null | awk '/ctxt_switches:/{s+=$2} END{print s+0}')))
	done
	echo "$s"
}
# machine_jiffies prints the machine's busy and total CPU ticks so far
# (/proc/stat: busy is everything but idle and iowait), "BUSY TOTAL".
machine_jiffies() { awk '$1=="cpu"{t=0; for (i=2;i<=NF;i++) t+=$i; print t-$5-$6, t; exit}' /proc/stat; }
# machine_switches prints the machine's context switches so far (/proc/stat ctxt).
machine_switches() { awk '$1=="ctxt"{print $2; exit}' /proc/stat; }
# busy_pct "B0 T0" "B1 T1" prints the share of the machine's CPU busy between
# two machine_jiffies readings, in per cent.
busy_pct() { awk -v a="$1" -v b="$2" 'BEGIN{split(a,x," "); split(b,y," "); d=y[2]-x[2]; printf "%.0f", (d > 0 ? 100*(y[1]-x[1])/d : 0)}'; }
# to_ms prints a wrk latency (1.23ms, 456.00us, 1.20s) in milliseconds.
to_ms() { awk -v v="$1" 'BEGIN{ if (v ~ /us$/) {sub(/us$/,"",v); print v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v); print v+0} else {sub(/s$/,"",v); print v*1000} }'; }

# median prints the median of the numbers on standard input, one a line.
median() { sort -g | awk '{a[NR]=$1} END{ if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'; }

# rotate N WORD... prints the words rotated left by N: round r starts at a
# different row each time, so no row always runs first or right after the
# same one (this machine's speed drifts over tens of seconds).
rotate() {
	local k=$(($1 % ($# - 1)))
	shift
	local a=("$@")
	echo "${a[@]:k}" "${a[@]:0:k}"
}

# paired_ratio FILE_A FILE_B prints the median over rounds of A's value / B's
# in the same round (line r of each file is round r) and the rounds' smallest
# and largest ratio: "M (LO–HI)". Adjacent rows share the machine's drift, so
# this is steadier than the ratio of the two medians.
paired_ratio() {
	paste "$1" "$2" | awk '$2 > 0 {printf "%.4f\n", $1/$2}' | sort -g >"$work/ratio"
	awk -v m="$(median <"$work/ratio")" -v lo="$(head -1 "$work/ratio")" -v hi="$(tail -1 "$work/ratio")" \
		'BEGIN{printf "%.2f× (%.2f–%.2f)\n", m, lo, hi}'
}

# ratio_line LABEL FILE_A FILE_B prints "- LABEL: medians X×, paired by round
# M× (LO–HI)".
ratio_line() {
	echo "- $1: medians $(awk -v a="$(median <"$2")" -v b="$(median <"$3")" 'BEGIN{printf "%.2f×", a/b}'), paired by round $(paired_ratio "$2" "$3")"
}
