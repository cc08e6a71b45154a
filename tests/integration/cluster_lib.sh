# SPDX-License-Identifier: MIT
#
# cluster_lib.sh - for the cluster tests and bench, after lib.sh: start and
# stop a private etcd (free ports, a data directory in /dev/shm, always
# killed on exit), mount and unmount cluster nodes on $WORK/nX (always
# unmounted on exit, a stopped daemon continued first), read a node's role.
# Sets ETCD_EP (HOST:PORT). Needs etcd (Debian's etcd-server) and python3.

ETCD_PID=""
# in memory: etcd syncs every write, and a disk shared with other work may
# stall that past the tests' 2 s leases (once in CI a leader was no longer
# leader 10 s after its mount; not reproduced since, cause not shown)
ETCD_DIR=$(mktemp -d /dev/shm/kvfs-it-etcd.XXXXXX)
ETCD_TTL=${ETCD_TTL:-2}
NODES=()

# cluster_setup SIZE [MKFS_OPTS...]: a pool of SIZE for the nodes and a running etcd; without
# etcd, print the SKIP line and exit 0 (tests/install-deps.sh installs etcd-server)
cluster_setup() {
	local size=$1
	shift
	if ! command -v etcd >/dev/null; then
		echo "SKIP: etcd is not installed (tests/install-deps.sh installs etcd-server)"
		exit 0
	fi
	"$KVFS" mkfs -s "$size" "$@" "$POOL" >/dev/null || { echo "FATAL: mkfs"; exit 1; }
	etcd_start
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

etcd_healthy() {
	python3 - "$ETCD_EP" <<'EOF' 2>/dev/null
import sys, urllib.request
with urllib.request.urlopen("http://%s/health" % sys.argv[1], timeout=1) as r:
    sys.exit(0 if b'"true"' in r.read() else 1)
EOF
}

etcd_start() { # starts it (again, on the same ports and data) and waits until it serves
	[ -n "${ETCD_CP:-}" ] || { ETCD_CP=$(free_port); ETCD_PP=$(free_port); }
	ETCD_EP=127.0.0.1:$ETCD_CP
	etcd --name kvfs-test --data-dir "$ETCD_DIR" \
		--listen-client-urls "http://$ETCD_EP" --advertise-client-urls "http://$ETCD_EP" \
		--listen-peer-urls "http://127.0.0.1:$ETCD_PP" \
		--initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PP" \
		--initial-cluster "kvfs-test=http://127.0.0.1:$ETCD_PP" >>"$WORK/etcd.log" 2>&1 &
	ETCD_PID=$!
	local _
	for _ in $(seq 100); do
		etcd_healthy && return 0
		sleep 0.1
	done
	echo "FATAL: etcd did not start; its log:"
	tail -20 "$WORK/etcd.log"
	exit 1
}

etcd_stop() {
	[ -n "$ETCD_PID" ] || return 0
	kill "$ETCD_PID" 2>/dev/null
	wait "$ETCD_PID" 2>/dev/null
	ETCD_PID=""
}

node_mount() { # NAME [EXTRA_OPTS]: mount node NAME on $WORK/NAME
	mkdir -p "$WORK/$1"
	"$KVFS" mount -o "cluster=etcd://$ETCD_EP,node=$1,cluster_ttl=$ETCD_TTL${2:+,$2}" "$POOL" \
		"$WORK/$1" || return 1
	NODES+=("$1")
}

node_pid() { # NAME: the daemon serving $WORK/NAME
	pgrep -f -- " $POOL $WORK/$1\$" | head -1
}

node_unmount() { # NAME
	local m=$WORK/$1 pid
	pid=$(node_pid "$1")
	[ -n "$pid" ] && kill -CONT "$pid" 2>/dev/null
	if mountpoint -q "$m" 2>/dev/null; then
		umount "$m" 2>/dev/null || fusermount3 -u "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	fi
	# a dead daemon's mount: no longer a mount point for mountpoint(1), still in the table
	grep -q " $m fuse" /proc/mounts && umount -l "$m" 2>/dev/null
	local _
	for _ in $(seq 50); do
		[ -z "$(node_pid "$1")" ] && break
		sleep 0.1
	done
	true
}

role_of() { # NAME: its cluster_role
	awk '$1 == "cluster_role" { print $2 }' "$WORK/$1/.kvfs/stats" 2>/dev/null
}

role_is() { # NAME ROLE: read anew at each call (for wait_for)
	[ "$(role_of "$1")" = "$2" ]
}

stat_at() { # NAME KEY
	awk -v k="$2" '$1 == k { print $2 }' "$WORK/$1/.kvfs/stats" 2>/dev/null
}

leader_of() { # NAME...: the one whose role is leader
	local n
	for n in "$@"; do
		[ "$(role_of "$n")" = leader ] && { echo "$n"; return 0; }
	done
	return 1
}

wait_for() { # SECONDS command...: true within SECONDS (polled every 50 ms)
	local end=$((SECONDS + $1))
	shift
	while [ $SECONDS -lt $end ]; do
		"$@" && return 0
		sleep 0.05
	done
	"$@"
}

cluster_cleanup() {
	local n pid
	for n in "${NODES[@]}"; do
		pid=$(node_pid "$n")
		[ -n "$pid" ] && kill -CONT "$pid" 2>/dev/null
	done
	for n in "${NODES[@]}"; do
		node_unmount "$n"
	done
	etcd_stop
	rm -rf "$ETCD_DIR"
	kv_cleanup
}
trap cluster_cleanup EXIT
