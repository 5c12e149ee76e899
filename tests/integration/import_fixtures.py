#!/usr/bin/env python3
"""Fixtures of test_serve_import.sh: one file per format mortar imports (docs/import.md), each
with what its run must hold computed here, independently of mortar, from the records written:
counts, status codes, network errors by kind, per-tag counts and exact latency percentiles.

usage: import_fixtures.py DIR   (writes DIR/NAME.{log,jtl,xml,json} and DIR/NAME.expect.json)
"""
import json
import random
import sys
from datetime import datetime, timezone

OUT = sys.argv[1]
T0 = 1_700_000_000
rng = random.Random(16)


def expect(name, recs):
    """recs: dicts with lat_us, status (0 = none), kind (None or an error kind), tag.
    Percentiles are of the records with a response, as in a native run (docs/import.md)."""
    lats = sorted(r["lat_us"] for r in recs if not r["kind"])
    n = len(recs)

    def pct(p):  # the rank HdrHistogram's value_at_percentile takes: p % of the count, rounded
        k = min(len(lats), max(1, int(p / 100 * len(lats) + 0.5)))
        return lats[k - 1]

    status, kinds, tags = {}, {}, {}
    for r in recs:
        if r["kind"]:
            kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
        else:
            status[str(r["status"])] = status.get(str(r["status"]), 0) + 1
        if r["tag"]:
            tags[r["tag"]] = tags.get(r["tag"], 0) + 1
    e = {
        "sent": n,
        "completed": n - sum(kinds.values()),
        "errors": sum(kinds.values()),
        "status": status,
        "errors_by_kind": kinds,
        "tags": tags,
        "p50": pct(50),
        "p90": pct(90),
        "p99": pct(99),
        "max": lats[-1],
    }
    with open(f"{OUT}/{name}.expect.json", "w") as f:
        json.dump(e, f)


def gen(n, errs):
    """n requests over ~6 s: start (unix us), latency, status, error kind, tag."""
    recs = []
    for i in range(n):
        start = T0 * 1_000_000 + i * 6_000_000 // n + rng.randrange(0, 3000)
        lat = rng.choice([rng.randrange(200, 5000), rng.randrange(5000, 400_000)])
        kind = rng.choice(errs) if rng.random() < 0.08 else None
        status = 0 if kind else rng.choice([200] * 12 + [201, 404, 500, 503])
        tag = rng.choice(["home", "cart", "search, all", ""])
        recs.append({"start": start, "lat_us": lat, "status": status, "kind": kind, "tag": tag})
    return recs


# -- phout (Yandex.Tank): written by end time, as Tank does: out of start order -------------
ERRNO = {"refused": 111, "timeout": 110, "reset": 104}
recs = gen(3000, list(ERRNO))
for r in recs:
    r["tag"] = r["tag"].replace(", ", "_")
with open(f"{OUT}/tank.log", "w") as f:
    for r in sorted(recs, key=lambda r: r["start"] + r["lat_us"]):
        lat = r["lat_us"]
        net = ERRNO[r["kind"]] if r["kind"] else 0
        f.write("%d.%03d\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n" % (
            r["start"] // 1_000_000, r["start"] // 1000 % 1000, r["tag"], lat, 100, 50,
            lat // 2, lat - lat // 2 - 150, lat, 120, 0 if net else 512, net, r["status"]))
# phout's time has ms precision: the seconds follow it
expect("tank", recs)

# -- JMeter CSV without a header (JMeter's default columns), ms precision, by end time ----
JAVA = {"refused": "Non HTTP response code: java.net.ConnectException",
        "timeout": "Non HTTP response code: java.net.SocketTimeoutException",
        "dns": "Non HTTP response code: java.net.UnknownHostException"}


def jmeter(recs):
    for r in recs:
        r["lat_us"] = r["lat_us"] // 1000 * 1000  # JMeter writes milliseconds


def q(s):
    return '"' + s.replace('"', '""') + '"' if ("," in s or '"' in s) else s


recs = gen(2500, list(JAVA))
jmeter(recs)
with open(f"{OUT}/jmeter.jtl", "w") as f:
    for r in sorted(recs, key=lambda r: r["start"] + r["lat_us"]):
        code = JAVA[r["kind"]] if r["kind"] else str(r["status"])
        ok = "true" if not r["kind"] and r["status"] < 400 else "false"
        el = r["lat_us"] // 1000
        # timeStamp,elapsed,label,responseCode,responseMessage,threadName,dataType,success,
        # failureMessage,bytes,sentBytes,grpThreads,allThreads,URL,Latency,IdleTime,Connect
        f.write(",".join([str(r["start"] // 1000), str(el), q(r["tag"]), q(code), "OK",
                          "Thread Group 1-3", "text", ok, "", "1234", "321", "5", "5",
                          "http://127.0.0.1/x", str(el // 2), "0", str(min(el // 4, 3))]) + "\n")
expect("jmeter", recs)

# -- JMeter CSV with a header of its own column order ------------------------------------
recs = gen(1500, list(JAVA))
jmeter(recs)
with open(f"{OUT}/jmeter_hdr.csv", "w") as f:
    f.write("label,timeStamp,success,elapsed,responseCode,bytes,Latency,Connect\n")
    for r in sorted(recs, key=lambda r: r["start"] + r["lat_us"]):
        code = JAVA[r["kind"]] if r["kind"] else str(r["status"])
        f.write(",".join([q(r["tag"]), str(r["start"] // 1000), "true", str(r["lat_us"] // 1000),
                          q(code), "99", "1", "0"]) + "\n")
expect("jmeter_hdr", recs)

# -- JMeter XML: sub-samples (redirects) and assertion results are not requests of their own
recs = gen(1200, list(JAVA))
jmeter(recs)


def xa(s):
    return s.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


with open(f"{OUT}/jmeter.xml", "w") as f:
    f.write('<?xml version="1.0" encoding="UTF-8"?>\n<testResults version="1.2">\n')
    for i, r in enumerate(sorted(recs, key=lambda r: r["start"] + r["lat_us"])):
        code = JAVA[r["kind"]] if r["kind"] else str(r["status"])
        ok = "true" if not r["kind"] and r["status"] < 400 else "false"
        el = r["lat_us"] // 1000
        attrs = f't="{el}" it="0" lt="{el // 2}" ct="1" ts="{r["start"] // 1000}" s="{ok}" ' \
                f'lb="{xa(r["tag"])}" rc="{xa(code)}" rm="OK" tn="TG 1-1" dt="text" by="10" sby="5"'
        if i % 7 == 0:
            f.write(f'<httpSample {attrs}>\n  <httpSample t="1" ts="{r["start"] // 1000}" '
                    f'lb="redirect" rc="302" s="true"/>\n  <assertionResult><name>a</name>'
                    f'<failure>false</failure></assertionResult>\n</httpSample>\n')
        else:
            f.write(f"<httpSample {attrs}/>\n")
    f.write("</testResults>\n")
expect("jmeter_xml", recs)

# -- k6 --out json: Metric lines, then Points; samples are stamped with the request's end ---
K6 = {"refused": "1212", "timeout": "1050", "dns": "1101"}
recs = gen(1000, list(K6))


def iso(us):
    d = datetime.fromtimestamp(us // 1_000_000, tz=timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S") + ".%06d+00:00" % (us % 1_000_000)


with open(f"{OUT}/k6.json", "w") as f:
    for m in ["http_reqs", "http_req_duration", "http_req_connecting", "vus"]:
        f.write(json.dumps({"type": "Metric", "data": {"name": m, "type": "trend"}, "metric": m}) + "\n")
    for r in sorted(recs, key=lambda r: r["start"] + r["lat_us"]):
        end = r["start"] + r["lat_us"]
        tags = {"method": "GET", "url": "http://127.0.0.1/x", "name": r["tag"] or "http://127.0.0.1/x",
                "status": "0" if r["kind"] else str(r["status"]), "scenario": "default",
                "expected_response": "true" if not r["kind"] and r["status"] < 400 else "false"}
        if r["kind"]:
            tags["error_code"] = K6[r["kind"]]
        if not r["tag"]:
            r["tag"] = "http://127.0.0.1/x"  # k6's name defaults to the URL
        for m, v in [("http_reqs", 1), ("http_req_duration", r["lat_us"] / 1000),
                     ("http_req_connecting", 0.05), ("http_req_waiting", r["lat_us"] / 2000)]:
            f.write(json.dumps({"type": "Point", "metric": m,
                                "data": {"time": iso(end), "value": v, "tags": tags}}) + "\n")
expect("k6", recs)

# -- a phout with two malformed lines (lines 3 and 6) ------------------------------------
good = ["%d.000\tok\t1000\t1\t1\t500\t1\t1000\t1\t1\t0\t200" % (T0 + i) for i in range(6)]
lines = good[:2] + ["%d.000\tok\tNaN\t1\t1\t500\t1\t1000\t1\t1\t0\t200" % T0] + good[2:4] + \
    ["garbage"] + good[4:]
with open(f"{OUT}/bad.log", "w") as f:
    f.write("\n".join(lines) + "\n")
