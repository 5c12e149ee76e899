# Claim (f): a ramp delivers the planned number of requests in every second. For line(a, b, D)
# the plan has N(t) = a t + (b - a) t^2 / (2 D) requests due before t (request n is due when
# N(t) = n, docs/schedules.md), so second k holds ceil(N(k + 1)) - ceil(N(k)) of them:
# line(100, 2000, 10s) gives 195, 385, ..., 1905 (195 + 190 k), 10,500 in all. Each full
# second's `due` and `sent` must be within 1% of that.
source "$(dirname "$0")/lib.sh"
start_target
out="$WORK/ramp.json"
run_json "$out" 60 --schedule 'line(100, 2000, 10s)' -c 50 -t 2 "$TARGET_URL/"
expect_eq "planned_requests" "$(jqr "$out" .config.planned_requests)" 10500
expect_eq due "$(jqr "$out" .summary.due)" 10500
expect_eq sent "$(jqr "$out" .summary.sent)" 10500
expect_eq dropped "$(jqr "$out" .summary.dropped)" 0
expect_eq errors "$(jqr "$out" .summary.errors)" 0
expect_eq "full seconds" "$(jqr "$out" '[.seconds[] | select(.span_s >= 0.999)] | length')" 10

plan='def N(t): 100 * t + 1900 * t * t / 20;
      def plan(k): (N(k + 1) | ceil) - (N(k) | ceil);'
echo "second  plan   due  sent"
jq -r "$plan"' .seconds[] | select(.span_s >= 0.999) | "\(.t)\t\(plan(.t))\t\(.due)\t\(.sent)"' "$out"
for field in due sent; do
  expect_jq "every full second's $field within 1% of the plan" "$out" \
    "$plan"' [.seconds[] | select(.span_s >= 0.999) | (.'"$field"' - plan(.t)) | fabs] as $d
     | [.seconds[] | select(.span_s >= 0.999) | plan(.t) * 0.01] as $tol
     | [range($d | length) | select($d[.] > $tol[.])] | length == 0'
done
