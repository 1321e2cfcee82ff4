#!/usr/bin/env bash
# Usage: HERALD=path/to/herald [LEVEL=hour|day] [MINUTES=8] bash bench/experiments/rollup-burst-sqlite.sh [N]
# Exploratory, SQLite: what rolling up one hour costs herald, minute by minute, at N services with
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
python3 - $W/data/herald.db "${LEVEL:-hour}" <<'PY'
import json, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
ids = [r[0] for r in db.execute("SELECT id FROM service")]
now = int(time.time())
if sys.argv[2] == "day":
    # LEVEL=day: yesterday's 24 hours already rolled (as herald stores them),
    # slices and hours rolled up to now, so the day is all there is to do.
    iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(t))
    day = now // 86400 * 86400 - 86400
    hist = json.dumps({str(b): 40 + b for b in range(20, 32)})
    rows = ((s, 3600, iso(day + h * 3600), 360, 350, 5, 5, 0, 360 * 1500, 1000, 2000, hist) for h in range(24) for s in ids)
    db.executemany("INSERT INTO service_rollup (service_id, period, bucket, checks, up, degraded, down, maintenance, latency_sum_us, latency_min_us, latency_max_us, latency_hist) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    settled = (now - 240) // 600 * 600
    db.executemany("INSERT INTO rollup_progress (period, rolled_to) VALUES (?, ?)", [(600, iso(settled)), (3600, iso(settled // 3600 * 3600))])
    db.commit()
    print(db.execute("SELECT count(*) FROM service_rollup").fetchone()[0], "hour rows")
else:
    hour = now // 3600 * 3600 - 3600
    rows = ((s, (hour + k * 10) * 1_000_000, 0, 200, 1, 1000 + (k % 50) * 20) for k in range(360) for s in ids)
    db.executemany("INSERT INTO service_metric (service_id, checked_at, status, status_code, instance_id, latency_us) VALUES (?,?,?,?,?,?)", rows)
    db.commit()
    print(db.execute("SELECT count(*) FROM service_metric").fetchone()[0], "raw rows")
PY
$H serve > $W/second.log 2>&1 & P=$!
for i in $(seq 100); do curl -sf http://127.0.0.1:58081/readyz >/dev/null && break; sleep 0.1; done
tick() { awk '{print $14+$15}' /proc/$P/stat; }
# CPU every 10 s and per minute, for MINUTES (8: the six slices of the hour, then the hour).
prev=$(tick); minute=0
for w in $(seq 1 $((${MINUTES:-8} * 6))); do
  sleep 10; now=$(tick); ms=$(( (now-prev)*10 )); minute=$((minute+ms)); prev=$now
  echo "$((w*10)) s: herald $ms ms CPU"
  if (( w % 6 == 0 )); then echo "minute $((w/6)): herald $minute ms CPU"; minute=0; fi
done
grep -i "housekeeping" $W/second.log | tail -1 | sed 's/\x1b\[[0-9;]*m//g'
kill -TERM $P; wait $P || true
