# The timing breakdown puts each part of a request where it belongs: a server delay is "wait"
# (last request byte written .. first response byte, TTFB), a slowly written body is
# "receive" (first .. last response byte), and the latency contains both.
source "$(dirname "$0")/lib.sh"
start_target

# 30 ms of server delay: all of it is wait, none of it receive.
out="$WORK/delay.json"
run_json "$out" 60 -R 100 -d 2s -c 20 -t 1 "$TARGET_URL/?delay=30ms"
expect_eq "delay: errors" "$(jqr "$out" .summary.errors)" 0
expect_near "delay: wait p50 (us)" "$(jqr "$out" .summary.breakdown_us.wait.p50)" 30000 1300
expect_between "delay: receive p50 (us)" "$(jqr "$out" .summary.breakdown_us.receive.p50)" 0 1000
expect_between "delay: send p50 (us)" "$(jqr "$out" .summary.breakdown_us.send.p50)" 0 1000

# A 2000-byte body written at 20,000 bytes/s takes about 100 ms from its first byte to its last
# (less what the first write carries): receive, not wait.
out="$WORK/slow.json"
run_json "$out" 60 -R 50 -d 2s -c 20 -t 1 "$TARGET_URL/?size=2000&slow=20000"
expect_eq "slow: errors" "$(jqr "$out" .summary.errors)" 0
expect_eq "slow: all 200" "$(jqr "$out" '.summary.status["200"] // 0')" "$(jqr "$out" .summary.completed)"
expect_between "slow: receive p50 (us)" "$(jqr "$out" .summary.breakdown_us.receive.p50)" 80000 $((120000 + 10000 * SLOW))
expect_between "slow: wait p50 (us)" "$(jqr "$out" .summary.breakdown_us.wait.p50)" 0 $((15000 * SLOW))
expect_jq "slow: latency p50 >= receive p50" "$out" \
  '.summary.latency_us.p50 >= .summary.breakdown_us.receive.p50'
