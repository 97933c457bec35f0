/*
 * scripts/bench rules: messages per second through the rules' keyword
 * matcher (ngx_kefu_module/ngx_kefu_ac.c, compiled in as it is), with 10
 * keywords and with 10,000 (or the counts given).  What a message costs
 * in a worker: normalizing it and one Aho-Corasick pass over it.  Runs
 * in one thread, no nginx, no Redis; the few nginx allocator calls the
 * matcher makes are plain malloc here.
 *
 *   bench-rules [SECONDS] [KEYWORDS ...]
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <time.h>
#include "ngx_kefu_bot.h"


static ngx_cycle_t       bench_cycle;
volatile ngx_cycle_t    *ngx_cycle = &bench_cycle;


void *
ngx_alloc(size_t size, ngx_log_t *log)
{
    return malloc(size);
}

void *
ngx_palloc(ngx_pool_t *pool, size_t size)
{
    return malloc(size);
}

void *
ngx_pnalloc(ngx_pool_t *pool, size_t size)
{
    return malloc(size);
}

void *
ngx_pcalloc(ngx_pool_t *pool, size_t size)
{
    return calloc(1, size);
}


static const char  *msgs[] = {
    "你好，我上周买的龙井到现在还没发货，能帮我查一下订单吗？",
    "Hi, my order #20261203 arrived but the tin was damaged, can I get a refund?",
    "请问这款红茶可以做礼品包装吗？想送给长辈。",
    "Do you ship to Germany and how long does delivery usually take?",
    "我想退款，茶叶碎了，包装也破损了",
    "What is the best water temperature to brew Longjing green tea?",
    "支付宝付款失败了怎么办",
    "ok thanks, bye",
};


typedef struct {
    ngx_uint_t  n;
} bench_count_t;


static ngx_int_t
bench_found(void *data, uint32_t id, u_char *p, size_t len)
{
    ((bench_count_t *) data)->n++;
    return 0;
}


static double
bench_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static void
bench_run(ngx_uint_t nkw, double seconds)
{
    u_char         *buf, norm[1024];
    size_t          len;
    uint32_t       *ids;
    ngx_str_t      *kw;
    ngx_uint_t      i, n, nmsgs, bytes;
    double          t0, el, built;
    ngx_kefu_ac_t  *ac;
    bench_count_t   cnt;
    const char     *cjk[] = { "退款", "发货", "破损", "礼品", "付款", "冲泡",
                              "保存", "快递", "订单", "优惠" };

    kw = malloc(nkw * sizeof(ngx_str_t));
    ids = malloc(nkw * sizeof(uint32_t));

    /* a few real keywords, the rest made up: Latin words and CJK words */
    for (i = 0; i < nkw; i++) {
        buf = malloc(64);

        if (i < 10) {
            len = snprintf((char *) buf, 64, "%s", cjk[i]);

        } else if (i % 2) {
            len = snprintf((char *) buf, 64, "word%lu", (unsigned long) i);

        } else {
            len = snprintf((char *) buf, 64, "%s%lu", cjk[i % 10],
                           (unsigned long) i);
        }

        kw[i].data = buf;
        kw[i].len = ngx_kefu_ac_normalize(buf, buf, len);
        ids[i] = (uint32_t) (i / 100 * 32);
    }

    t0 = bench_now();
    ac = ngx_kefu_ac_build(NULL, kw, ids, nkw);
    built = bench_now() - t0;

    if (ac == NULL) {
        fprintf(stderr, "build failed\n");
        exit(1);
    }

    nmsgs = sizeof(msgs) / sizeof(msgs[0]);
    n = 0;
    bytes = 0;
    cnt.n = 0;
    t0 = bench_now();

    do {
        for (i = 0; i < 1000; i++, n++) {
            len = strlen(msgs[n % nmsgs]);
            len = ngx_kefu_ac_normalize(norm, (u_char *) msgs[n % nmsgs], len);
            ngx_kefu_ac_scan(ac, norm, len, bench_found, &cnt);
            bytes += len;
        }

        el = bench_now() - t0;

    } while (el < seconds);

    printf("keywords %6lu: automaton %7lu nodes built in %.1f ms; "
           "%.0f messages/s (%.1f MB/s, %lu bytes a message on average), "
           "%lu keyword hits\n",
           (unsigned long) nkw, (unsigned long) ngx_kefu_ac_nodes(ac),
           built * 1000, n / el, bytes / el / 1e6, (unsigned long) (bytes / n),
           (unsigned long) cnt.n);
}


int
main(int argc, char **argv)
{
    int     i;
    double  seconds;

    seconds = argc > 1 ? atof(argv[1]) : 3;

    if (argc > 2) {
        for (i = 2; i < argc; i++) {
            bench_run(strtoul(argv[i], NULL, 10), seconds);
        }

    } else {
        bench_run(10, seconds);
        bench_run(10000, seconds);
    }

    return 0;
}
