#!/usr/bin/env bash
# bench/smtp.sh — durable SMTP ingest measured against Postfix's smtp-sink.
#
# Issue 3 / issue 7 lines P1, P2, P4, P5. Every figure is a ratio to
# smtp-sink (or a percentile) measured in this run on this machine, with the
# two servers interleaved round by round. See bench/README.md.
#
#   bench/smtp.sh                       # defaults: ROUNDS=3 MSGS=20000 SESSIONS=20
#   ROUNDS=5 MSGS=10000 bench/smtp.sh
#   TESTS="p1 p5" bench/smtp.sh         # a subset (p1 p4 p2 p5)
#
# Needs: go, curl, jq, Postfix's /usr/sbin/smtp-source and smtp-sink
# (apt-get install postfix, with its daemon kept from starting), root for
# smtp-sink's -u nobody. perf (optional) counts fdatasync calls.
set -euo pipefail
shopt -s inherit_errexit

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

ROUNDS=${ROUNDS:-3}          # rounds per test; each round = one sink run + one touchpoint run
MSGS=${MSGS:-20000}          # P1: messages per run (smtp-source -m)
SESSIONS=${SESSIONS:-20}     # P1, P2, P5: concurrent sessions (smtp-source -s)
SIZE=${SIZE:-4096}           # P1, P4, P5: payload bytes (smtp-source -l)
MSGS_ONE=${MSGS_ONE:-3000}   # P4: messages per run with one session
MSGS_REAL=${MSGS_REAL:-$((MSGS / 2))} # P2: realistic 5 KiB multipart messages per run
LAT_MSGS_1=${LAT_MSGS_1:-1000}  # P5: messages per run, 1 session
LAT_MSGS_N=${LAT_MSGS_N:-5000}  # P5: messages per run, $SESSIONS sessions
WARMUP=${WARMUP:-1000}       # unrecorded warm-up messages per server
TESTS=${TESTS:-"p1 p4 p2 p5"}
PERF=${PERF:-auto}           # auto|0: count fdatasync with perf stat (root)
RESULTS_DIR=${RESULTS_DIR:-$ROOT/bench/results}
KEEP=${KEEP:-0}              # 1: keep the temp dir (logs, database)
QUIET_BUSY=${QUIET_BUSY:-15} # before each round wait until the CPUs are < this % busy (other jobs) ...
QUIET_MAX=${QUIET_MAX:-120}  # ... for at most this many seconds; QUIET_BUSY=100 disables

SMTP_SOURCE=${SMTP_SOURCE:-/usr/sbin/smtp-source}
SMTP_SINK=${SMTP_SINK:-/usr/sbin/smtp-sink}

# Targets (issue 7).
T_P1=0.55 T_P4=0.5 T_P2=0.45 T_P5_1=5 T_P5_N=25

die() { echo "bench/smtp.sh: $*" >&2; exit 1; }
note() { echo "# $*" >&2; }
for t in go curl jq "$SMTP_SOURCE" "$SMTP_SINK"; do
	command -v "$t" >/dev/null || die "$t not found (Postfix: apt-get install --no-install-recommends postfix; see docs)"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/touchpoint-smtpbench.XXXXXX")
chmod 755 "$tmp"
TP_PID="" SINK_PID=""
cleanup() {
	set +e
	if [ -n "$TP_PID" ] && kill -0 "$TP_PID" 2>/dev/null; then
		kill -TERM "$TP_PID"; wait "$TP_PID" 2>/dev/null
	fi
	if [ -n "$SINK_PID" ] && kill -0 "$SINK_PID" 2>/dev/null; then
		kill -TERM "$SINK_PID"; wait "$SINK_PID" 2>/dev/null
	fi
	if [ "$KEEP" = 1 ]; then note "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- build -------------------------------------------------------------------
note "building touchpoint and bench/smtpbench"
(cd "$ROOT" && go build -o "$tmp/touchpoint" ./cmd/touchpoint && go build -o "$tmp/smtpbench" ./bench/smtpbench)
TP="$tmp/touchpoint" B="$tmp/smtpbench"

mkdir -p "$RESULTS_DIR"
OUT="$RESULTS_DIR/smtp-$(date +%Y%m%d-%H%M%S).txt"
exec 3>&1
exec > >(tee -a "$OUT")
TEE_PID=$!

# ---- perf ----------------------------------------------------------------------
use_perf=0
if [ "$PERF" != 0 ] && command -v perf >/dev/null &&
	perf stat -a -x, -e syscalls:sys_enter_fdatasync -o /dev/null -- true 2>/dev/null; then
	use_perf=1
fi

# ---- data dir, users, ports -------------------------------------------------------
read -r SINK_PORT TP_PORT HTTP_PORT <<<"$("$B" ports 3 | tr '\n' ' ')"
SYS=log@tp.example
STAFF=sarah@staff.example
export TOUCHPOINT_DATA_DIR="$tmp/data"
export TOUCHPOINT_SYSTEM_ADDRESS=$SYS
export TOUCHPOINT_SMTP_ADDR=127.0.0.1:$TP_PORT
export TOUCHPOINT_HTTP_ADDR=127.0.0.1:$HTTP_PORT
export TOUCHPOINT_LOG_LEVEL=warn
export TOUCHPOINT_SMTP_MAX_CONNECTIONS_PER_IP=1000
export TOUCHPOINT_ADMIN_EMAIL=$STAFF
API=http://127.0.0.1:$HTTP_PORT

# The staff user, an admin API token, and the user's secret address
# (log+TOKEN@...). Done before the daemon starts: the commands open the
# file themselves, and the token is not exposed by the API.
printf 'bench-password-not-secret\n' | "$TP" user add --email "$STAFF" --name "Sarah Staff" --role staff >/dev/null
TOKEN=$("$TP" token create --name smtp-bench --role admin)
USER_ADDR="log+$("$B" usertoken -db "$TOUCHPOINT_DATA_DIR/touchpoint.db" -email "$STAFF")@tp.example"

"$SMTP_SINK" -u nobody "127.0.0.1:$SINK_PORT" 1024 >"$tmp/sink.log" 2>&1 &
SINK_PID=$!
"$TP" serve >"$tmp/touchpoint.log" 2>&1 &
TP_PID=$!
for _ in $(seq 100); do
	curl -fsS "$API/healthz" >/dev/null 2>&1 && (exec 9<>"/dev/tcp/127.0.0.1/$SINK_PORT") 2>/dev/null && break
	sleep 0.1
done
curl -fsS "$API/healthz" >/dev/null || { cat "$tmp/touchpoint.log" >&2; die "touchpoint did not start"; }
note "touchpoint pid $TP_PID (smtp 127.0.0.1:$TP_PORT, http $API), smtp-sink pid $SINK_PID (127.0.0.1:$SINK_PORT)"

api() { curl -fsS -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' "$@"; }
# mkcontact EMAIL NAME -> id
mkcontact() { api -X POST "$API/api/v1/contacts" -d "$(jq -nc --arg e "$1" --arg n "$2" '{kind:"person",name:$n,emails:[$e]}')" | jq -r .id; }
# metric STATUS -> touchpoint_messages_total{source="smtp",status=STATUS}
metric() { curl -fsS "$API/metrics" | awk -v s="$1" '$1 == "touchpoint_messages_total{source=\"smtp\",status=\"" s "\"}" {printf "%d\n", $2; f=1} END {if (!f) print 0}'; }
kv() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }
calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }
verdict() { # value op target
	if awk "BEGIN { exit !($1 $2 $3) }"; then echo "met"; else echo "MISSED"; fi
}

# timed CMD...: run under smtpbench's monotonic timer (+ CPU of both servers,
# + fdatasync count); prints key=value.
timed() {
	local sub=$1; shift
	local out rc=0 fds=na
	if [ "$use_perf" = 1 ]; then
		out=$(perf stat -a -x, -e syscalls:sys_enter_fdatasync -o "$tmp/perf.txt" -- \
			"$B" "$sub" -pid "$TP_PID" -pid "$SINK_PID" "$@" 2>>"$tmp/client.log") || rc=$?
		fds=$(awk -F, '/sys_enter_fdatasync/ {print $1}' "$tmp/perf.txt")
	else
		out=$("$B" "$sub" -pid "$TP_PID" -pid "$SINK_PID" "$@" 2>>"$tmp/client.log") || rc=$?
	fi
	if [ "$rc" != 0 ]; then
		tail -5 "$tmp/client.log" >&2
		die "load generator failed (rc=$rc): $sub $*"
	fi
	echo "$out fdatasync=$fds"
}

src() { # PORT SESSIONS COUNT FROM TO
	timed run -- "$SMTP_SOURCE" -s "$2" -m "$3" -l "$SIZE" -c -f "$4" -t "$5" "127.0.0.1:$1"
}

# settle: wait (at most 30 s) until the journal's backlog is empty: mail
# answered 250 reaches the database within ~50 ms.
settle() {
	local b
	for _ in $(seq 300); do
		b=$(curl -fsS "$API/metrics" | awk '$1 == "touchpoint_journal_backlog" {print $2}')
		[ "${b:-0}" = 0 ] && return 0
		sleep 0.1
	done
	note "the journal still holds $b messages after 30 s"
}

# check_logged CONTACT_ID EXPECTED LOGGED0 DUP0 UNMATCHED0: the run must have
# logged EXPECTED interactions on the contact, with as many distinct
# Message-IDs, and no duplicate or unmatched outcome (/metrics deltas).
# Prints "N/EXPECTED ok" or the counts followed by BAD.
check_logged() {
	local c n d l u m
	settle
	c=$("$B" count -api "$API" -token "$TOKEN" -contact "$1")
	n=$(kv interactions "$c"); d=$(kv distinct_message_ids "$c")
	l=$(( $(metric logged) - $3 )); u=$(( $(metric duplicate) - $4 )); m=$(( $(metric unmatched) - $5 ))
	if [ "$n" = "$2" ] && [ "$d" = "$2" ] && [ "$l" = "$2" ] && [ "$u" = 0 ] && [ "$m" = 0 ]; then
		echo "$n/$2 ok"
	else
		echo "$n/$2 ids=$d logged+$l dup+$u unmatched+$m BAD"
	fi
}
CHECK_FAILED=0
NOISY=0
# quiet: wait for an idle machine before a round; prints a mark for the row.
quiet() {
	local q; q=$("$B" quiet -busy "$QUIET_BUSY" -max "${QUIET_MAX}s")
	if [ "$(kv quiet "$q")" != true ]; then echo " (started busy: $(kv busy_pct "$q")%)"; fi
}

# ---- header ----------------------------------------------------------------------------
rev=${REV:-$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)}
[ -n "$(git -C "$ROOT" status --porcelain -- cmd ingest matcher store web config go.mod 2>/dev/null)" ] && rev="$rev+dirty"
echo "== touchpoint SMTP benchmark $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "host: $(nproc) cpus, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(uname -r), $(go version | awk '{print $3}')"
echo "touchpoint: $rev ($ROOT)   data: $TOUCHPOINT_DATA_DIR ($(df -T "$tmp" | awk 'NR==2 {print $2}'))"
echo "params: ROUNDS=$ROUNDS MSGS=$MSGS SESSIONS=$SESSIONS SIZE=$SIZE MSGS_ONE=$MSGS_ONE MSGS_REAL=$MSGS_REAL LAT_MSGS_1=$LAT_MSGS_1 LAT_MSGS_N=$LAT_MSGS_N TESTS=\"$TESTS\""
echo "setup: staff $STAFF (per-user address log+TOKEN@tp.example), system address $SYS; each touchpoint run"
echo "       gets its own contact and must log every message (checked via the API and /metrics)"
echo "cpu%: share of one core used during a run ($(nproc) cores = $(( $(nproc) * 100 ))%): tp cpu% in the touchpoint run, sink cpu% in the"
echo "      sink run; client% = load generator (sink run/touchpoint run); other% = everything else on the machine (noise)"
echo "fdatasync: calls during the touchpoint run (perf); bbolt syncs twice per commit, so msgs/tx = messages per group commit"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

# ---- warm-up ----------------------------------------------------------------------------
note "warm-up"
w=$(mkcontact warmup@client.example "Warm Up")
src "$SINK_PORT" "$SESSIONS" "$WARMUP" warmup@client.example "$USER_ADDR" >/dev/null
src "$TP_PORT" "$SESSIONS" "$WARMUP" warmup@client.example "$USER_ADDR" >/dev/null
"$B" count -api "$API" -token "$TOKEN" -contact "$w" >/dev/null

# ---- throughput tests ----------------------------------------------------------------------
# A round runs the sink and touchpoint back to back; odd rounds start with
# the sink, even rounds with touchpoint, so drift does not favour one side.
declare -A MED
hdr() {
	echo "== $1"
	printf '%-6s %10s %10s %7s %7s %9s %9s %9s %9s %8s  %s\n' round "sink msg/s" "tp msg/s" ratio "tp cpu%" "sink cpu%" "client%" "other%" fdatasync "msgs/tx" "logged (API)"
}
row() { # round sink_line tp_line ratio check
	local fds per=na
	fds=$(kv fdatasync "$3")
	# bbolt syncs twice per commit (pages, then meta): msgs/tx is the
	# group-commit batch size.
	if [ "$fds" != na ] && [ "${fds:-0}" -gt 0 ]; then per=$(calc "$N_RUN / ($fds / 2)" 1); fi
	printf '%-6s %10.0f %10.0f %7.3f %7s %9s %9s %9s %9s %8s  %s\n' "$1" "$(rate "$2")" "$(rate "$3")" "$4" \
		"$(kv cpu_pct "$3")" "$(kv cpu1_pct "$2")" "$(kv client_pct "$2")/$(kv client_pct "$3")" \
		"$(kv other_pct "$2")/$(kv other_pct "$3")" "$fds" "$per" "$5"
}
# rate LINE: msgs/s from a send line, or N_RUN / elapsed for a run line.
rate() {
	local r; r=$(kv rate "$1")
	if [ -n "$r" ]; then echo "$r"; else calc "$N_RUN / $(kv elapsed "$1")" 1; fi
}

# throughput NAME KEY: runs $ROUNDS rounds of sink_cmd / tp_cmd (functions
# set by the caller) and records the median ratio under KEY.
throughput() {
	local name=$1 key=$2 ratios=() r s t c cid l0 d0 u0
	hdr "$name"
	for r in $(seq "$ROUNDS"); do
		cid=$(mkcontact "$key-r$r@client-$key.example" "Bench $key round $r")
		q=$(quiet); [ -n "$q" ] && NOISY=1
		l0=$(metric logged) d0=$(metric duplicate) u0=$(metric unmatched)
		if (( r % 2 )); then
			s=$(sink_cmd "$key-r$r@client-$key.example"); t=$(tp_cmd "$key-r$r@client-$key.example")
		else
			t=$(tp_cmd "$key-r$r@client-$key.example"); s=$(sink_cmd "$key-r$r@client-$key.example")
		fi
		c=$(check_logged "$cid" "$N_RUN" "$l0" "$d0" "$u0")
		[[ $c == *BAD ]] && CHECK_FAILED=1
		ratio=$(calc "$(rate "$t") / $(rate "$s")" 3)
		ratios+=("$ratio")
		row "$r" "$s" "$t" "$ratio" "$c$q"
	done
	MED[$key]=$(median "${ratios[@]}")
	echo "median ratio: ${MED[$key]}"
	echo
}

for test in $TESTS; do
	case $test in
	p1)
		N_RUN=$MSGS
		note "P1: $SESSIONS sessions, $SIZE-byte smtp-source messages, $MSGS per run"
		sink_cmd() { src "$SINK_PORT" "$SESSIONS" "$MSGS" "$1" "$USER_ADDR"; }
		tp_cmd() { src "$TP_PORT" "$SESSIONS" "$MSGS" "$1" "$USER_ADDR"; }
		throughput "P1 durable ingest: smtp-source -s $SESSIONS -m $MSGS -l $SIZE -c, new connection per message" p1
		;;
	p4)
		N_RUN=$MSGS_ONE
		note "P4: one session, $MSGS_ONE per run"
		sink_cmd() { src "$SINK_PORT" 1 "$MSGS_ONE" "$1" "$USER_ADDR"; }
		tp_cmd() { src "$TP_PORT" 1 "$MSGS_ONE" "$1" "$USER_ADDR"; }
		throughput "P4 one sender: smtp-source -s 1 -m $MSGS_ONE -l $SIZE -c" p4
		;;
	p2)
		N_RUN=$MSGS_REAL
		note "P2: realistic ~5 KiB multipart, $SESSIONS sessions (Go client), $MSGS_REAL per run"
		# Staff writes to the contact, the system address in BCC (envelope only).
		sink_cmd() { timed send -addr "127.0.0.1:$SINK_PORT" -kind realistic -c "$SESSIONS" -n "$MSGS_REAL" -from "$STAFF" -to "$1" -rcpt "$SYS"; }
		tp_cmd() { timed send -addr "127.0.0.1:$TP_PORT" -kind realistic -c "$SESSIONS" -n "$MSGS_REAL" -from "$STAFF" -to "$1" -rcpt "$SYS"; }
		throughput "P2 realistic 5 KiB multipart (encoded words, QP, base64 attachment), $SESSIONS sessions, smtpbench send" p2
		;;
	p5)
		note "P5: connect-to-250 latency"
		for sess in 1 "$SESSIONS"; do
			if [ "$sess" = 1 ]; then N_RUN=$LAT_MSGS_1; tgt=$T_P5_1; else N_RUN=$LAT_MSGS_N; tgt=$T_P5_N; fi
			echo "== P5 connect-to-250 latency, $sess session(s), $N_RUN ${SIZE}-byte messages per run (smtpbench send; ms from connect() to the reply to the final dot)"
			printf '%-6s %9s %9s %9s %9s | %9s %9s %9s %9s | %7s %10s %10s %7s  %s\n' round "sink p50" p95 p99 max "tp p50" p95 p99 max "tp cpu%" "sink msg/s" "tp msg/s" ratio "logged (API)"
			p99s=() ratios=()
			for r in $(seq "$ROUNDS"); do
				addr="lat$sess-r$r@client-lat.example"
				cid=$(mkcontact "$addr" "Latency $sess round $r")
				q=$(quiet); [ -n "$q" ] && NOISY=1
				l0=$(metric logged) d0=$(metric duplicate) u0=$(metric unmatched)
				runs() { timed send -addr "127.0.0.1:$1" -kind plain -size "$SIZE" -c "$sess" -n "$N_RUN" -from "$STAFF" -to "$addr" -rcpt "$SYS"; }
				if (( r % 2 )); then s=$(runs "$SINK_PORT"); t=$(runs "$TP_PORT"); else t=$(runs "$TP_PORT"); s=$(runs "$SINK_PORT"); fi
				c=$(check_logged "$cid" "$N_RUN" "$l0" "$d0" "$u0")
				[[ $c == *BAD ]] && CHECK_FAILED=1
				ratio=$(calc "$(kv rate "$t") / $(kv rate "$s")" 3)
				p99s+=("$(kv p99_ms "$t")"); ratios+=("$ratio")
				printf '%-6s %9s %9s %9s %9s | %9s %9s %9s %9s | %7s %10.0f %10.0f %7s  %s\n' "$r" \
					"$(kv p50_ms "$s")" "$(kv p95_ms "$s")" "$(kv p99_ms "$s")" "$(kv max_ms "$s")" \
					"$(kv p50_ms "$t")" "$(kv p95_ms "$t")" "$(kv p99_ms "$t")" "$(kv max_ms "$t")" \
					"$(kv cpu_pct "$t")" "$(kv rate "$s")" "$(kv rate "$t")" "$ratio" "$c$q"
			done
			MED[p5_$sess]=$(median "${p99s[@]}")
			MED[p5r_$sess]=$(median "${ratios[@]}")
			echo "median tp p99: ${MED[p5_$sess]} ms (target ≤ $tgt ms); median throughput ratio with this client: ${MED[p5r_$sess]}"
			echo
		done
		;;
	*) die "unknown test $test (p1 p4 p2 p5)" ;;
	esac
done

# ---- summary -----------------------------------------------------------------------------
echo "== summary (median over $ROUNDS rounds)"
printf '%-4s %-58s %10s %10s  %s\n' id what measured target verdict
line() { printf '%-4s %-58s %10s %10s  %s\n' "$@"; }
[ -n "${MED[p1]:-}" ] && line P1 "durable ingest, $SESSIONS sessions, ${SIZE} B, vs smtp-sink" "${MED[p1]}" "≥ $T_P1" "$(verdict "${MED[p1]}" '>=' $T_P1)"
[ -n "${MED[p2]:-}" ] && line P2 "realistic 5 KiB multipart, $SESSIONS sessions, vs smtp-sink" "${MED[p2]}" "≥ $T_P2" "$(verdict "${MED[p2]}" '>=' $T_P2)"
[ -n "${MED[p4]:-}" ] && line P4 "one sender, vs smtp-sink" "${MED[p4]}" "≥ $T_P4" "$(verdict "${MED[p4]}" '>=' $T_P4)"
[ -n "${MED[p5_1]:-}" ] && line P5 "p99 connect-to-250, 1 session (ms)" "${MED[p5_1]}" "≤ $T_P5_1" "$(verdict "${MED[p5_1]}" '<=' $T_P5_1)"
[ -n "${MED[p5_$SESSIONS]:-}" ] && line P5 "p99 connect-to-250, $SESSIONS sessions (ms)" "${MED[p5_$SESSIONS]}" "≤ $T_P5_N" "$(verdict "${MED[p5_$SESSIONS]}" '<=' $T_P5_N)"
if [ "$NOISY" = 1 ]; then
	echo "NOTE: some rounds started while other jobs kept the CPUs > $QUIET_BUSY% busy (marked above); other% shows how much"
fi
if [ "$CHECK_FAILED" = 1 ]; then
	echo "WARNING: some touchpoint run did not log every message exactly once (see above); its figures are not valid"
fi
echo "results appended to $OUT"
exec >&3
wait "$TEE_PID" 2>/dev/null || true
[ "$CHECK_FAILED" = 0 ]
