#!/usr/bin/env bash
# Usage: HERALD=path/to/herald bash bench/experiments/rollup-burst-postgres.sh [N] (as root: runs initdb as postgres)
# Exploratory: what rolling up one hour costs herald, minute by minute, at N services with an
# hour of raw results (N × 360 rows at a 10 s interval), PostgreSQL at default
# durability. herald's scheduler is off so the rollup is all it does; its CPU
# is read every 10 s from start-up; housekeeping's first pass is at 60 s.
set -euo pipefail
N=${1:-10000}
W=/var/tmp/herald-rb; rm -rf $W; mkdir -p $W/data; chown postgres $W; chmod 755 $W
runuser -u postgres -- $(dirname $(ls /usr/lib/postgresql/*/bin/initdb | tail -1))/initdb -D $W/pg -A trust -U postgres >/dev/null
runuser -u postgres -- $(dirname $(ls /usr/lib/postgresql/*/bin/initdb | tail -1))/pg_ctl -D $W/pg -o "-p 55432 -k /tmp -c listen_addresses=127.0.0.1" -l $W/pg.log start >/dev/null
trap 'runuser -u postgres -- $(dirname $(ls /usr/lib/postgresql/*/bin/initdb | tail -1))/pg_ctl -D $W/pg stop -m fast >/dev/null; kill $(jobs -p) 2>/dev/null || true' EXIT
psql -h 127.0.0.1 -p 55432 -U postgres -qc "CREATE DATABASE rb" >/dev/null
export HERALD_DATABASE_URL=postgres://postgres@127.0.0.1:55432/rb HERALD_DATA_DIR=$W/data HERALD_ENV=production HERALD_MONITORING__SCHEDULER=false HERALD_LISTEN=127.0.0.1:58080
H=${HERALD:-${CARGO_TARGET_DIR:-target}/release/herald}
$H serve > $W/first.log 2>&1 & P=$!
for i in $(seq 100); do curl -sf http://127.0.0.1:58080/readyz >/dev/null && break; sleep 0.1; done
for i in $(seq 50); do grep -q hld_ $W/first.log && break; sleep 0.1; done; TOKEN=$(grep -o "hld_[A-Za-z0-9_-]*" $W/first.log | head -1)
python3 "$(dirname "$0")/create_services.py" 58080 "$TOKEN" "$N"
kill -TERM $P; wait $P || true
# One full past hour of results per service, every 10 s.
psql -h 127.0.0.1 -p 55432 -U postgres -d rb -qc "INSERT INTO service_metric (checked_at, service_id, instance_id, latency_us, status, status_code)
  SELECT date_trunc('hour', now()) - interval '1 hour' + make_interval(secs => k * 10), s.id, 1, 1000 + (k % 50) * 20, 0, 200
  FROM service s, generate_series(0, 359) k; ANALYZE service_metric;"
psql -h 127.0.0.1 -p 55432 -U postgres -d rb -Atc "SELECT count(*) FROM service_metric"
$H serve > $W/second.log 2>&1 & P=$!
for i in $(seq 100); do curl -sf http://127.0.0.1:58080/readyz >/dev/null && break; sleep 0.1; done
tick() { awk '{print $14+$15}' /proc/$P/stat; }
pgt() { ps -u postgres -o times= | awk '{s+=$1} END {print s}'; }
# CPU every 10 s and per minute, for MINUTES (8: the six slices of the hour, then the hour).
prev=$(tick); minute=0
for w in $(seq 1 $((${MINUTES:-8} * 6))); do
  sleep 10; now=$(tick); ms=$(( (now-prev)*10 )); minute=$((minute+ms)); prev=$now
  echo "$((w*10)) s: herald $ms ms CPU"
  if (( w % 6 == 0 )); then echo "minute $((w/6)): herald $minute ms CPU"; minute=0; fi
done
grep -i "housekeeping" $W/second.log | tail -2
psql -h 127.0.0.1 -p 55432 -U postgres -d rb -Atc "SELECT count(*) FROM service_rollup"
kill -TERM $P; wait $P || true
