#include "cli/output.h"
#include "runspec/runspec.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

#define OUT_BAR_WIDTH      12
#define OUT_FULL_SECOND_NS 500000000LL /* seconds shorter than this stay out of Req/Sec stats */

/* wrk's units: 1024-based */
/* ---- wrk's number formats (src/units.c, src/wrk.c), so that scripts reading wrk's report
 * read mortar's: "%.2f" and a unit, stepping up at 0.85 of the next unit ---- */

static void wrk_units(char *buf, size_t n, double v, double scale, const char *base,
                      const char *const *units, size_t nunits)
{
    const char *unit = base;
    for (size_t i = 0; i + 1 < nunits && v >= scale * 0.85; i++) {
        v /= scale;
        unit = units[i];
    }
    snprintf(buf, n, "%.2f%s", v, unit);
}

/* format_time_us: 82.00us, 1.23ms, 2.00s, 1.50m */
static void wrk_time_us(char *buf, size_t n, double us)
{
    static const char *const us_units[] = {"ms", "s", NULL};
    static const char *const s_units[] = {"m", "h", NULL};
    if (!(us >= 0))
        us = 0;
    if (us >= 1000000.0)
        wrk_units(buf, n, us / 1000000.0, 60, "s", s_units, 3);
    else
        wrk_units(buf, n, us, 1000, "us", us_units, 3);
}

/* format_metric: 396.11, 56.20k, 1.05M */
static void wrk_metric(char *buf, size_t n, double v)
{
    static const char *const u[] = {"k", "M", "G", "T", "P", NULL};
    wrk_units(buf, n, v, 1000, "", u, 6);
}

/* format_binary (wrk adds the "B"): 503.26K, 14.75M */
static void wrk_binary(char *buf, size_t n, double v)
{
    static const char *const u[] = {"K", "M", "G", "T", "P", NULL};
    wrk_units(buf, n, v, 1024, "", u, 6);
}

/* print_units: right-aligned in width so that the units line up */
static void wrk_print_units(FILE *f, const char *msg, int width)
{
    size_t len = strlen(msg);
    int pad = 2;
    if (len > 0 && isalpha((unsigned char)msg[len - 1]))
        pad--;
    if (len > 1 && isalpha((unsigned char)msg[len - 2]))
        pad--;
    width -= pad;
    fprintf(f, "%*.*s%.*s", width, width, msg, pad, "  ");
}

typedef struct within {
    double lo, hi;
    uint64_t below_lo, upto_hi; /* count_to of the last value < lo, <= hi */
} within_t;

static int within_cb(double p, int64_t value, uint64_t count_to, void *ud)
{
    within_t *w = ud;
    (void)p;
    if ((double)value < w->lo)
        w->below_lo = count_to;
    if ((double)value <= w->hi)
        w->upto_hi = count_to;
    return 0;
}

/* wrk's stats_within_stdev for a histogram: % of values within mean +/- stdev (at the
 * histogram's resolution). */
static double wrk_within_hist(const mt_hist_t *h)
{
    double mean = mt_hist_mean(h), sd = mt_hist_stddev(h);
    within_t w = {mean - sd, mean + sd, 0, 0};
    uint64_t n = mt_hist_count(h);
    if (n == 0)
        return 0;
    mt_hist_foreach_percentile(h, 20, within_cb, &w);
    return w.upto_hi > w.below_lo ? 100.0 * (double)(w.upto_hi - w.below_lo) / (double)n : 0;
}

/* "10s", "1.5s", "2m", "1h30m" for the planned duration. */
static void out_fmt_dur(char *buf, size_t n, int64_t ns)
{
    double s = (double)ns / 1e9;
    if (ns % 1000000000LL != 0)
        snprintf(buf, n, "%.3gs", s);
    else if (ns >= 3600000000000LL && ns % 60000000000LL == 0)
        snprintf(buf, n, "%lldh%02lldm", (long long)(ns / 3600000000000LL),
                 (long long)(ns / 60000000000LL % 60));
    else if (ns >= 60000000000LL)
        snprintf(buf, n, "%lldm%02llds", (long long)(ns / 60000000000LL),
                 (long long)(ns / 1000000000LL % 60));
    else
        snprintf(buf, n, "%llds", (long long)(ns / 1000000000LL));
}

static double out_pct(const mt_hist_t *h, double p)
{
    return h != NULL ? (double)mt_hist_value_at_percentile(h, p) : 0;
}

void mt__live_init(mt__live_t *l, FILE *f, bool tty, bool quiet, const mt__run_info_t *info)
{
    memset(l, 0, sizeof(*l));
    l->f = f;
    l->tty = tty;
    l->quiet = quiet;
    l->info = info;
}

void mt__live_second(mt__live_t *l, const mt_second_t *s)
{
    double span = s->span_ns > 0 ? (double)s->span_ns / 1e9 : 1;
    double rps = (double)s->c.completed / span;
    char p50[16], p99[16], el[16], extra[64] = "";
    double planned_s = (double)l->info->duration_ns / 1e9;
    int width;

    l->elapsed_ns += s->span_ns;
    if (s->span_ns >= OUT_FULL_SECOND_NS) {
        if (l->rps_n < MT__LIVE_RPS_KEEP)
            l->rps_keep[l->rps_n] = (float)rps;
        l->rps_n++;
        l->rps_sum += rps;
        l->rps_sumsq += rps * rps;
        if (rps > l->rps_max)
            l->rps_max = rps;
    }
    if (l->quiet)
        return;

    mt__fmt_us(p50, sizeof(p50), out_pct(s->latency, 50));
    mt__fmt_us(p99, sizeof(p99), out_pct(s->latency, 99));
    width = snprintf(el, sizeof(el), "%.0f", planned_s);
    snprintf(el, sizeof(el), "%*.0f", width, (double)l->elapsed_ns / 1e9);
    if (l->info->open_model) {
        size_t k = (size_t)snprintf(extra, sizeof(extra), " due=%" PRIu64, s->c.due);
        if (s->c.dropped > 0)
            snprintf(extra + k, sizeof(extra) - k, " drop=%" PRIu64, s->c.dropped);
    }

    if (l->tty) {
        double frac = planned_s > 0 ? (double)l->elapsed_ns / 1e9 / planned_s : 1;
        char bar[OUT_BAR_WIDTH + 1];
        int fill;
        if (frac > 1)
            frac = 1;
        fill = (int)(frac * OUT_BAR_WIDTH + 0.5);
        for (int i = 0; i < OUT_BAR_WIDTH; i++)
            bar[i] = i < fill ? '#' : '-';
        bar[OUT_BAR_WIDTH] = '\0';
        double left = planned_s - (double)l->elapsed_ns / 1e9;
        fprintf(
            l->f,
            "\r\033[K[%ss/%.0fs] [%s] %3.0f%% %.0fs left  rps=%.0f%s p50=%s p99=%s err=%" PRIu64,
            el, planned_s, bar, frac * 100, left > 0 ? left : 0, rps, extra, p50, p99, s->c.errors);
        l->line_open = true;
    } else {
        fprintf(l->f, "[%ss/%.0fs] rps=%.0f%s p50=%s p99=%s err=%" PRIu64 "\n", el, planned_s, rps,
                extra, p50, p99, s->c.errors);
    }
    fflush(l->f);
}

void mt__live_finishing(mt__live_t *l, uint64_t in_flight, int64_t left_ns)
{
    double planned_s = (double)l->info->duration_ns / 1e9, left = (double)left_ns / 1e9;
    if (l->quiet)
        return;
    if (l->tty) {
        char bar[OUT_BAR_WIDTH + 1];
        memset(bar, '#', OUT_BAR_WIDTH);
        bar[OUT_BAR_WIDTH] = '\0';
        fprintf(l->f,
                "\r\033[K[%.0fs/%.0fs] [%s] finishing: %" PRIu64
                " in flight, waiting up to %.1fs more",
                planned_s, planned_s, bar, in_flight, left);
        l->line_open = true;
    } else if (l->fin_left_ns == 0 || l->fin_left_ns - left_ns >= 1000000000LL) {
        fprintf(l->f, "finishing: %" PRIu64 " in flight, waiting up to %.1fs more (--grace)\n",
                in_flight, left);
        l->fin_left_ns = left_ns > 0 ? left_ns : 1;
    }
    fflush(l->f);
}

void mt__live_end(mt__live_t *l)
{
    if (l->line_open) {
        fputc('\n', l->f);
        fflush(l->f);
        l->line_open = false;
    }
}

/* The generator's own CPU (its worker threads): per request, and whether one thread was busy
 * (nearly) a whole second, when mortar rather than the server may have set the pace. */
static void out_generator(FILE *f, const mt__run_info_t *info, const mt_counters_t *c)
{
    double busiest = (double)c->cpu_max_us / 1e4; /* % of one core in its busiest second */
    if (busiest > 100)
        busiest = 100; /* a second published late holds a little more than one second */
    fprintf(f, "  Generator: %.2f s of CPU in %d worker thread%s", (double)c->cpu_us / 1e6,
            info->threads, info->threads == 1 ? "" : "s");
    if (c->sent > 0)
        fprintf(f, ", %.1f us per request", (double)c->cpu_us / (double)c->sent);
    fprintf(f, "; busiest thread %.0f%% of a core\n", busiest);
    if (busiest >= 90)
        fprintf(f,
                "  note: a worker thread was busy %.0f%% of a second: mortar itself may have "
                "limited the load or delayed sends; more threads (-t) or agents would tell\n",
                busiest);
}

void mt__out_header(FILE *f, const mt__run_info_t *info)
{
    char dur[32];
    out_fmt_dur(dur, sizeof(dur), info->duration_ns);
    fprintf(f, "Running %s test @ %s\n", dur, info->url);
    fprintf(f, "  %d thread%s and %d connection%s\n", info->threads, info->threads == 1 ? "" : "s",
            info->connections, info->connections == 1 ? "" : "s");
    if (!info->open_model) {
        fprintf(f, "  closed model: each connection sends its next request when a response "
                   "ends\n");
    } else if (info->schedule != NULL) {
        fprintf(f, "  open model: schedule %s (%" PRIu64 " requests planned)\n", info->schedule,
                info->planned);
    } else {
        fprintf(f, "  open model: %g requests/s (%" PRIu64 " requests planned)\n", info->rate,
                info->planned);
    }
    if (info->ammo != NULL)
        fprintf(f, "  ammo: %s, %zu request%s, %zu tag%s\n", info->ammo, info->nrequests,
                info->nrequests == 1 ? "" : "s", info->ntags > 0 ? info->ntags - 1 : 0,
                info->ntags == 2 ? "" : "s");
    fflush(f);
}

/* "    p50  p90 ..." row of a histogram's percentiles */
static void out_pct_row(FILE *f, const char *label, const mt_hist_t *h, const double *ps, size_t n)
{
    char v[16];
    fprintf(f, "  %-14s", label);
    if (h == NULL || mt_hist_count(h) == 0) {
        fprintf(f, " %9s\n", "-");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        mt__fmt_us(v, sizeof(v), out_pct(h, ps[i]));
        fprintf(f, " %9s", v);
    }
    mt__fmt_us(v, sizeof(v), (double)mt_hist_max(h));
    fprintf(f, " %9s\n", v);
}

static int out_spectrum_row(double p, int64_t value, uint64_t count_to, void *ud)
{
    FILE *f = ud;
    double inv = p < 100 ? 1 / (1 - p / 100) : 0;
    if (p < 100)
        fprintf(f, "%12.3f %12.6f %12" PRIu64 " %12.2f\n", (double)value / 1000, p / 100, count_to,
                inv);
    else
        fprintf(f, "%12.3f %12.6f %12" PRIu64 "\n", (double)value / 1000, p / 100, count_to);
    return 0;
}

/* HdrHistogram's percentile distribution, as wrk2 prints it with --latency (values in ms). */
static void out_spectrum(FILE *f, const mt_hist_t *h)
{
    fprintf(f, "\n  Detailed Percentile spectrum:\n");
    fprintf(f, "%12s %12s %12s %12s\n\n", "Value", "Percentile", "TotalCount", "1/(1-Percentile)");
    mt_hist_foreach_percentile(h, 5, out_spectrum_row, f);
    fprintf(f, "#[Mean    = %12.3f, StdDeviation   = %12.3f]\n", mt_hist_mean(h) / 1000,
            mt_hist_stddev(h) / 1000);
    fprintf(f, "#[Max     = %12.3f, Total count    = %12" PRIu64 "]\n",
            (double)mt_hist_max(h) / 1000, mt_hist_count(h));
}

static void out_model(FILE *f, const mt__run_info_t *info, const mt_run_result_t *r)
{
    const mt_counters_t *c = &r->c;
    double el = r->elapsed_ns > 0 ? (double)r->elapsed_ns / 1e9 : 0;
    char lagmean[16], lagmax[16];
    static const double ps[] = {50, 90, 99, 99.9};

    fprintf(f, "\nOpen model: ");
    if (info->schedule != NULL)
        fprintf(f, "schedule %s\n", info->schedule);
    else
        fprintf(f, "%g requests/s\n", info->rate);
    fprintf(f, "  planned %.2f/s, achieved %.2f/s (completed)\n",
            info->duration_ns > 0 ? (double)info->planned / ((double)info->duration_ns / 1e9) : 0,
            el > 0 ? (double)c->completed / el : 0);
    fprintf(f,
            "  due %" PRIu64 ", sent %" PRIu64 ", completed %" PRIu64 ", dropped %" PRIu64
            ", late %" PRIu64 " (sent >%lldms after due)\n",
            c->due, c->sent, c->completed, c->dropped, c->late, MT_LATE_NS / 1000000);
    mt__fmt_us(lagmean, sizeof(lagmean), c->sent > 0 ? (double)c->lag_sum_us / (double)c->sent : 0);
    mt__fmt_us(lagmax, sizeof(lagmax), (double)c->lag_max_us);
    fprintf(f, "  schedule lag (send time - due time): mean %s, max %s\n", lagmean, lagmax);
    fprintf(f, "  %-14s %9s %9s %9s %9s %9s\n", "", "p50", "p90", "p99", "p99.9", "max");
    out_pct_row(f, "latency (due)", r->latency, ps, 4);
    out_pct_row(f, "service (sent)", r->service, ps, 4);
}

bool mt__out_tls_hint(const mt__run_info_t *info, const mt_run_result_t *r)
{
    uint64_t fin = r->c.completed + r->c.errors;
    if (info == NULL || info->spec == NULL || info->spec->insecure || !info->spec->url.tls)
        return false;
    if (fin == 0 || r->c.err[MT_ERR_TLS] * 2 <= fin)
        return false;
    return strstr(r->tls_error, "verif") != NULL || strstr(r->tls_error, "certificate") != NULL;
}

void mt__out_summary(FILE *f, const mt__run_info_t *info, const mt__live_t *l,
                     const mt_run_result_t *r, bool interrupted)
{
    const mt_counters_t *c = &r->c;
    double el = r->elapsed_ns > 0 ? (double)r->elapsed_ns / 1e9 : 0;
    char a[16], b[16];
    bool any;
    static const double dist[] = {50, 75, 90, 99, 99.9, 99.99};
    static const char *const dist_label[] = {"50%", "75%", "90%", "99%", "99.9%", "99.99%"};
    static const double bps[] = {50, 99};

    if (interrupted || r->stopped) {
        char planned[32];
        out_fmt_dur(planned, sizeof(planned), info->duration_ns);
        fprintf(f, "  interrupted after %.2fs of %s\n", el, planned);
    }

    if (r->latency != NULL && mt_hist_count(r->latency) > 0) {
        /* wrk's block, in wrk's format (src/wrk.c print_stats_header/print_stats) */
        fprintf(f, "  Thread Stats%6s%11s%8s%12s\n", "Avg", "Stdev", "Max", "+/- Stdev");
        fprintf(f, "    %-10s", "Latency");
        wrk_time_us(a, sizeof(a), mt_hist_mean(r->latency));
        wrk_print_units(f, a, 8);
        wrk_time_us(a, sizeof(a), mt_hist_stddev(r->latency));
        wrk_print_units(f, a, 10);
        wrk_time_us(a, sizeof(a), (double)mt_hist_max(r->latency));
        wrk_print_units(f, a, 9);
        fprintf(f, "%8.2f%%\n", wrk_within_hist(r->latency));
        if (l != NULL && l->rps_n > 0) {
            double mean = l->rps_sum / (double)l->rps_n;
            double var = l->rps_sumsq / (double)l->rps_n - mean * mean, sd;
            uint64_t kept = l->rps_n < MT__LIVE_RPS_KEEP ? l->rps_n : MT__LIVE_RPS_KEEP, in = 0;
            sd = var > 0 ? sqrt(var) : 0;
            for (uint64_t i = 0; i < kept; i++)
                if (l->rps_keep[i] >= mean - sd && l->rps_keep[i] <= mean + sd)
                    in++;
            fprintf(f, "    %-10s", "Req/Sec");
            wrk_metric(a, sizeof(a), mean);
            wrk_print_units(f, a, 8);
            wrk_metric(a, sizeof(a), sd);
            wrk_print_units(f, a, 10);
            wrk_metric(a, sizeof(a), l->rps_max);
            wrk_print_units(f, a, 9);
            fprintf(f, "%8.2f%%\n", kept ? 100.0 * (double)in / (double)kept : 0.0);
        }
        /* wrk's --latency lines (always printed by mortar), then 99.9 and 99.99 */
        fprintf(f, "  Latency Distribution%s\n", info->open_model ? " (from due time)" : "");
        for (size_t i = 0; i < sizeof(dist) / sizeof(dist[0]); i++) {
            if (dist[i] == floor(dist[i]))
                fprintf(f, "%7.0f%%", dist[i]);
            else
                fprintf(f, "%7s", dist_label[i]);
            wrk_time_us(a, sizeof(a), out_pct(r->latency, dist[i]));
            wrk_print_units(f, a, 10);
            fprintf(f, "\n");
        }
        if (info->detail)
            out_spectrum(f, r->latency);
    } else {
        fprintf(f, "  no completed requests\n");
    }

    wrk_time_us(b, sizeof(b), el * 1e6);
    wrk_binary(a, sizeof(a), (double)c->bytes_in);
    fprintf(f, "  %" PRIu64 " requests in %s, %sB read\n", c->completed, b, a);
    if (c->errors > 0) {
        /* wrk's line (connect: refused, dns, tls; read: reset, closed, protocol, other; mortar
         * does not tell write errors apart), then mortar's kinds */
        uint64_t conn = c->err[MT_ERR_REFUSED] + c->err[MT_ERR_DNS] + c->err[MT_ERR_TLS];
        uint64_t to = c->err[MT_ERR_TIMEOUT];
        fprintf(f,
                "  Socket errors: connect %" PRIu64 ", read %" PRIu64 ", write 0, timeout %" PRIu64
                "\n",
                conn, c->errors - conn - to, to);
        fprintf(f, "  Errors: %" PRIu64 " (", c->errors);
        any = false;
        for (int k = 0; k < MT_ERR__COUNT; k++) {
            if (c->err[k] == 0)
                continue;
            fprintf(f, "%s%s %" PRIu64, any ? ", " : "", mt_err_kind_name(k), c->err[k]);
            any = true;
        }
        fprintf(f, ")\n");
    }
    {
        uint64_t bad = c->status[0];
        for (int s = 100; s < MT_STATUS_MAX; s++)
            if (s < 200 || s >= 400)
                bad += c->status[s];
        if (bad > 0)
            fprintf(f, "  Non-2xx or 3xx responses: %" PRIu64 "\n", bad);
    }
    if (c->abandoned > 0)
        fprintf(f,
                "  Abandoned: %" PRIu64
                " (in flight when the run ended, unanswered after --grace)\n",
                c->abandoned);
    fprintf(f, "Requests/sec: %9.2f\n", el > 0 ? (double)c->completed / el : 0);
    wrk_binary(a, sizeof(a), el > 0 ? (double)c->bytes_in / el : 0);
    fprintf(f, "Transfer/sec: %10sB\n", a);

    /* mortar's extras */
    if (info->open_model)
        out_model(f, info, r);

    fprintf(f, "\nStatus codes:");
    any = false;
    for (int s = 100; s < MT_STATUS_MAX; s++) {
        if (c->status[s] == 0)
            continue;
        fprintf(f, "%s %d: %" PRIu64, any ? "," : "", s, c->status[s]);
        any = true;
    }
    if (c->status[0] > 0) {
        fprintf(f, "%s other: %" PRIu64, any ? "," : "", c->status[0]);
        any = true;
    }
    fprintf(f, "%s\n", any ? "" : " none");

    fprintf(f, "%-16s %9s %9s %9s\n", "Timing breakdown", "p50", "p99", "max");
    out_pct_row(f, "connect", r->connect, bps, 2);
    if (r->tls != NULL && mt_hist_count(r->tls) > 0)
        out_pct_row(f, "tls", r->tls, bps, 2);
    out_pct_row(f, "send", r->send, bps, 2);
    out_pct_row(f, "wait (TTFB)", r->wait, bps, 2);
    out_pct_row(f, "receive", r->recv, bps, 2);
    fprintf(f, "  %" PRIu64 " connections opened, at most %" PRIu32 " open at once\n", c->connects,
            r->max_open_conns);
    if (c->tls_full || c->tls_resumed)
        fprintf(f, "  TLS handshakes: %" PRIu64 " full, %" PRIu64 " resumed\n", c->tls_full,
                c->tls_resumed);
    if (r->tls_error[0])
        fprintf(f, "  TLS error: %s\n", r->tls_error);
    if (mt__out_tls_hint(info, r))
        fprintf(f, "  hint: most requests failed verifying the server's certificate; to test "
                   "without verification as Phantom and wrk do, add -k/--insecure (or trust its "
                   "CA with --cacert FILE)\n");
    if (c->retried)
        fprintf(f,
                "  Retried: %" PRIu64 " idempotent requests sent again on a fresh connection"
                " (a reused one closed before any response byte)\n",
                c->retried);
    if (c->h2_rst || c->h2_goaway || c->h2_retried)
        fprintf(f,
                "  HTTP/2: %" PRIu64 " RST_STREAM, %" PRIu64 " GOAWAY received, %" PRIu64
                " requests retried on another connection\n",
                c->h2_rst, c->h2_goaway, c->h2_retried);
    if (c->cpu_us > 0)
        out_generator(f, info, c);
    if (r->ntags > 0 && info->tags != NULL) {
        fprintf(f, "\n%-20s %10s %8s %9s %9s %9s %9s\n", "Per tag", "requests", "errors", "p50",
                "p90", "p99", "max");
        for (size_t i = 0; i < r->ntags && i < info->ntags; i++) {
            const mt_tag_stats_t *t = &r->tags[i];
            char p50[16], p90[16], p99[16], mx[16];
            if (t->c.sent == 0 && t->c.due == 0 && t->c.errors == 0)
                continue;
            mt__fmt_us(p50, sizeof p50, out_pct(t->latency, 50));
            mt__fmt_us(p90, sizeof p90, out_pct(t->latency, 90));
            mt__fmt_us(p99, sizeof p99, out_pct(t->latency, 99));
            mt__fmt_us(mx, sizeof mx, (double)mt_hist_max(t->latency));
            fprintf(f, "  %-18.18s %10" PRIu64 " %8" PRIu64 " %9s %9s %9s %9s\n",
                    info->tags[i][0] ? info->tags[i] : "(untagged)", t->c.completed, t->c.errors,
                    p50, p90, p99, mx);
        }
    }
    fflush(f);
}
