#!/usr/bin/env python3
"""p50/p99 of call.ringing latency from a webhook_receiver.py log: the receiver's arrival
(wall ms) minus the payload's data.started_at (the INVITE's arrival at calltrack, ms).

Usage: ringing_latency.py OUT
"""
import json
import sys
from datetime import datetime


def ms(rfc3339):
    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp() * 1000.0


lat = []
for line in open(sys.argv[1], encoding="utf-8"):
    arrived, body = line.rstrip("\n").split("\t", 1)
    event = json.loads(body)
    if event["type"] == "call.ringing":
        lat.append(float(arrived) - ms(event["data"]["started_at"]))
lat.sort()
if not lat:
    print("ringing_latency events=0")
    sys.exit(1)
pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
print("ringing_latency events=%d p50_ms=%.1f p99_ms=%.1f max_ms=%.1f"
      % (len(lat), pick(0.50), pick(0.99), lat[-1]))
