#!/usr/bin/env bash
# Usage: HERALD=path/to/herald bash bench/experiments/rollup-burst-sqlite.sh [N]
# Exploratory, SQLite: what one hourly rollup costs herald at N services with
# an hour of raw results (N × 360 rows); scheduler off; CPU every 10 s.
set -euo pipefail
N=${1:-10000}
W=/var/tmp/herald-rbs; rm -rf $W; mkdir -p $W/data
export HERALD_DATA_DIR=$W/data HERALD_ENV=production HERALD_MONITORING__SCHEDULER=false HERALD_LISTEN=127.0.0.1:58081
unset HERALD_DATABASE_URL
H=${HERALD:-${CARGO_TARGET_DIR:-target}/release/herald}
$H serve > $W/first.log 2>&1 & P=$!
for i in $(seq 100); do curl -sf http://127.0.0.1:58081/readyz >/dev/null && break; sleep 0.1; done
for i in $(seq 50); do grep -q hld_ $W/first.log && break; sleep 0.1; done; TOKEN=$(grep -o "hld_[A-Za-z0-9_-]*" $W/first.log | head -1)
python3 "$(dirname "$0")/create_services.py" 58081 "$TOKEN" "$N"
kill -TERM $P; wait $P || true
python3 - $W/data/herald.db <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
hour = int(time.time()) // 3600 * 3600 - 3600
ids = [r[0] for r in db.execute("SELECT id FROM service")]
rows = ((s, (hour + k * 10) * 1_000_000, 0, 200, 1, 1000 + (k % 50) * 20) for k in range(360) for s in ids)
db.executemany("INSERT INTO service_metric (service_id, checked_at, status, status_code, instance_id, latency_us) VALUES (?,?,?,?,?,?)", rows)
db.commit()
print(db.execute("SELECT count(*) FROM service_metric").fetchone()[0])
PY
$H serve > $W/second.log 2>&1 & P=$!
for i in $(seq 100); do curl -sf http://127.0.0.1:58081/readyz >/dev/null && break; sleep 0.1; done
tick() { awk '{print $14+$15}' /proc/$P/stat; }
prev=$(tick); for w in $(seq 1 9); do sleep 10; now=$(tick); echo "$((w*10)) s: herald $(( (now-prev)*10 )) ms CPU"; prev=$now; done
grep -i "housekeeping" $W/second.log | tail -1 | sed 's/\x1b\[[0-9;]*m//g'
kill -TERM $P; wait $P || true
