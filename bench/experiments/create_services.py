"""Create N HTTP services through herald's API on one keep-alive connection.

Usage: python3 create_services.py PORT TOKEN N (used by rollup-burst-*.sh).
"""
import http.client
import json
import sys

port, token, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
c = http.client.HTTPConnection("127.0.0.1", port)
for i in range(n):
    body = json.dumps({"name": f"svc-{i}", "kind": "http", "target": "http://127.0.0.1:9/", "interval_seconds": 10})
    c.request("POST", "/api/v1/services", body, {"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    assert r.status == 201, r.status
