
/*
 * Business hours: weekly intervals in the site's time zone, with dated
 * exceptions.  The time zone is an IANA name (Asia/Shanghai) read from the
 * system's compiled zone files (/usr/share/zoneinfo, TZif, RFC 8536) when
 * the settings change, never on the hot path: deciding whether a site is
 * open is then a binary search in memory.  Transitions past the file's
 * last one (after 2037 in Debian's "fat" files) keep the last offset.
 */


#include "ngx_kefu_settings.h"


#define NGX_KEFU_ZONEINFO      "/usr/share/zoneinfo/"
#define NGX_KEFU_TZIF_MAX      (256 * 1024)


static const char  *ngx_kefu_days[] = {
    "sun", "mon", "tue", "wed", "thu", "fri", "sat"
};


static ngx_int_t ngx_kefu_hours_intervals(json_t *a, ngx_kefu_interval_t *iv,
    ngx_uint_t *n);
static ngx_int_t ngx_kefu_hours_date(json_t *v, int32_t *date);
static ngx_int_t ngx_kefu_hours_tz(const char *name, ngx_log_t *log,
    u_char **data, size_t *len);
static ngx_int_t ngx_kefu_hours_tzif(u_char *p, size_t len,
    ngx_kefu_hours_t *h, ngx_uint_t count);
static int ngx_kefu_hours_cmp(const void *a, const void *b);
static ngx_int_t ngx_kefu_hours_check_keys(json_t *hours, ngx_pool_t *pool,
    ngx_str_t *field, ngx_str_t *err);
static ngx_int_t ngx_kefu_hours_tz_name(const char *name);
static ngx_int_t ngx_kefu_hours_zone(json_t *hours, ngx_log_t *log,
    ngx_str_t *field, ngx_str_t *err, u_char **tz, size_t *tzlen);
static ngx_int_t ngx_kefu_hours_build(json_t *hours, u_char *tz,
    size_t tzlen, ngx_pool_t *pool, ngx_log_t *log, ngx_str_t *field,
    ngx_str_t *err, ngx_kefu_hours_t **out);
static ngx_int_t ngx_kefu_hours_weekly(json_t *weekly, ngx_kefu_hours_t *h,
    ngx_pool_t *pool, ngx_str_t *field, ngx_str_t *err);
static ngx_int_t ngx_kefu_hours_exceptions(json_t *exc, ngx_kefu_hours_t *h,
    ngx_pool_t *pool, ngx_str_t *field, ngx_str_t *err);


/* in a checker with field and err: says which field and what, and returns */
#define ngx_kefu_hours_fail(f, e)                                             \
    do { ngx_str_set(field, f); ngx_str_set(err, e); return NGX_DECLINED; }   \
    while (0)

#define ngx_kefu_be32(p)                                                      \
    ((uint32_t) (p)[0] << 24 | (uint32_t) (p)[1] << 16                        \
     | (uint32_t) (p)[2] << 8 | (uint32_t) (p)[3])


/*
 * Checks "hours" and, with out, builds its parsed form.  On error, field
 * names the offending field (within "hours") and err says what is wrong.
 */

ngx_int_t
ngx_kefu_hours_check(json_t *hours, ngx_pool_t *pool, ngx_log_t *log,
    ngx_str_t *field, ngx_str_t *err, ngx_kefu_hours_t **out)
{
    u_char            *tz;
    size_t             tzlen;
    ngx_int_t          rc;
    ngx_kefu_hours_t  *h;

    if (!json_is_object(hours)) {
        ngx_kefu_hours_fail("hours", "must be an object (or null: always "
                            "open)");
    }

    if (ngx_kefu_hours_check_keys(hours, pool, field, err) != NGX_OK
        || ngx_kefu_hours_zone(hours, log, field, err, &tz, &tzlen) != NGX_OK)
    {
        return NGX_DECLINED;
    }

    rc = ngx_kefu_hours_build(hours, tz, tzlen, pool, log, field, err, &h);

    ngx_free(tz);

    if (rc != NGX_OK) {
        return NGX_DECLINED;
    }

    if (out) {
        *out = h;

    } else {
        ngx_free(h);
    }

    return NGX_OK;
}


/* hours.timezone: its name, and its zone file's bytes (*tz, to be freed) */

static ngx_int_t
ngx_kefu_hours_zone(json_t *hours, ngx_log_t *log, ngx_str_t *field,
    ngx_str_t *err, u_char **tz, size_t *tzlen)
{
    json_t      *v;
    const char  *name;

    v = json_object_get(hours, "timezone");
    name = json_is_string(v) ? json_string_value(v) : NULL;

    if (ngx_kefu_hours_tz_name(name) != NGX_OK) {
        ngx_kefu_hours_fail("hours.timezone", "must be an IANA time zone "
                            "name, e.g. Asia/Shanghai");
    }

    *tz = NULL;
    *tzlen = 0;

    if (ngx_kefu_hours_tz(name, log, tz, tzlen) != NGX_OK) {
        ngx_kefu_hours_fail("hours.timezone", "is not a time zone of this "
                            "system (" NGX_KEFU_ZONEINFO ")");
    }

    return NGX_OK;
}


/*
 * The parsed form, in one allocation: the weekly intervals, the dated
 * exceptions and the zone's transitions.
 */

static ngx_int_t
ngx_kefu_hours_build(json_t *hours, u_char *tz, size_t tzlen,
    ngx_pool_t *pool, ngx_log_t *log, ngx_str_t *field, ngx_str_t *err,
    ngx_kefu_hours_t **out)
{
    size_t             size;
    json_t            *weekly, *exc;
    ngx_uint_t         ntrans;
    ngx_kefu_hours_t  *h;

    /* the transitions' count is known only once the file is read */
    ntrans = 0;

    if (tzlen >= 44) {
        ntrans = ngx_kefu_be32(tz + 32);

        if (tz[4] >= '2') {
            /* the 64-bit block follows the 32-bit one: at most as many */
            ntrans = ngx_max(ntrans, 2048);
        }
    }

    weekly = json_object_get(hours, "weekly");

    if (weekly && !json_is_object(weekly)) {
        ngx_kefu_hours_fail("hours.weekly", "must be an object: day (mon, "
                            "tue, ...) to a list of \"HH:MM-HH:MM\"");
    }

    exc = json_object_get(hours, "exceptions");

    if (exc && !json_is_array(exc)) {
        ngx_kefu_hours_fail("hours.exceptions", "must be an array of "
                            "{\"date\": \"YYYY-MM-DD\", \"hours\": [...]}");
    }

    if (exc && json_array_size(exc) > NGX_KEFU_HOURS_EXCEPTIONS) {
        ngx_kefu_hours_fail("hours.exceptions", "has too many dates (400 at "
                            "most)");
    }

    size = sizeof(ngx_kefu_hours_t)
           + (exc ? json_array_size(exc) : 0) * sizeof(ngx_kefu_hours_day_t)
           + ntrans * (sizeof(int64_t) + sizeof(int32_t))
           + 2 * sizeof(int64_t);    /* for the alignments below */

    h = ngx_alloc(size, log);
    if (h == NULL) {
        ngx_kefu_hours_fail("hours", "out of memory");
    }

    ngx_memzero(h, sizeof(ngx_kefu_hours_t));
    /* data[] follows a 32-bit field: the arrays in it are aligned */
    h->exc = (ngx_kefu_hours_day_t *) ngx_align_ptr(h->data,
                                                    sizeof(int64_t));

    if ((weekly && ngx_kefu_hours_weekly(weekly, h, pool, field, err)
                   != NGX_OK)
        || (exc && ngx_kefu_hours_exceptions(exc, h, pool, field, err)
                   != NGX_OK))
    {
        ngx_free(h);
        return NGX_DECLINED;
    }

    h->at = (int64_t *) ngx_align_ptr(h->exc + h->nexc, sizeof(int64_t));
    h->off = (int32_t *) (h->at + ntrans);

    if (ngx_kefu_hours_tzif(tz, tzlen, h, ntrans) != NGX_OK) {
        ngx_free(h);
        ngx_kefu_hours_fail("hours.timezone", "cannot be read: not a TZif "
                            "file");
    }

    *out = h;

    return NGX_OK;
}


static ngx_int_t
ngx_kefu_hours_check_keys(json_t *hours, ngx_pool_t *pool, ngx_str_t *field,
    ngx_str_t *err)
{
    json_t      *v;
    const char  *key;

    json_object_foreach(hours, key, v) {
        if (ngx_strcmp(key, "timezone") != 0
            && ngx_strcmp(key, "weekly") != 0
            && ngx_strcmp(key, "exceptions") != 0)
        {
            field->len = ngx_strlen(key) + 6;
            field->data = ngx_pnalloc(pool, field->len);
            if (field->data) {
                ngx_sprintf(field->data, "hours.%s", key);
            }
            ngx_str_set(err, "is not a field of hours (timezone, weekly, "
                        "exceptions)");
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/* a zone name, not a path: [A-Za-z0-9/_+-], no "..", not absolute */

static ngx_int_t
ngx_kefu_hours_tz_name(const char *name)
{
    u_char  *p;

    if (name == NULL || ngx_strlen(name) == 0 || ngx_strlen(name) > 64
        || ngx_strstr(name, "..") || name[0] == '/')
    {
        return NGX_DECLINED;
    }

    for (p = (u_char *) name; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9') || *p == '/' || *p == '_'
              || *p == '-' || *p == '+'))
        {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/* hours.weekly into h->week */

static ngx_int_t
ngx_kefu_hours_weekly(json_t *weekly, ngx_kefu_hours_t *h, ngx_pool_t *pool,
    ngx_str_t *field, ngx_str_t *err)
{
    json_t               *v;
    ngx_uint_t            d, n;
    const char           *key;
    ngx_kefu_interval_t   iv[NGX_KEFU_HOURS_PER_DAY];

    json_object_foreach(weekly, key, v) {
        for (d = 0; d < 7; d++) {
            if (ngx_strcmp(key, ngx_kefu_days[d]) == 0) {
                break;
            }
        }

        if (d == 7 || ngx_kefu_hours_intervals(v, iv, &n) != NGX_OK) {
            field->len = ngx_strlen(key) + 13;
            field->data = ngx_pnalloc(pool, field->len);
            if (field->data) {
                ngx_sprintf(field->data, "hours.weekly.%s", key);
            }
            if (d == 7) {
                ngx_str_set(err, "is not a day: mon, tue, wed, thu, fri, "
                            "sat, sun");

            } else {
                ngx_str_set(err, "must be a list of at most 8 "
                            "\"HH:MM-HH:MM\" (00:00 to 24:00, each "
                            "ending after it starts)");
            }

            return NGX_DECLINED;
        }

        h->nweek[d] = n;
        ngx_memcpy(h->week[d], iv, n * sizeof(ngx_kefu_interval_t));
    }

    return NGX_OK;
}


/* hours.exceptions into h->exc, sorted by date */

static ngx_int_t
ngx_kefu_hours_exceptions(json_t *exc, ngx_kefu_hours_t *h, ngx_pool_t *pool,
    ngx_str_t *field, ngx_str_t *err)
{
    size_t    i;
    json_t   *e;
    int32_t   date;

    json_array_foreach(exc, i, e) {
        if (!json_is_object(e)
            || ngx_kefu_hours_date(json_object_get(e, "date"), &date)
               != NGX_OK
            || ngx_kefu_hours_intervals(json_object_get(e, "hours"),
                                        h->exc[i].iv, &h->exc[i].n)
               != NGX_OK)
        {
            field->data = ngx_pnalloc(pool, 32);
            if (field->data) {
                field->len = ngx_sprintf(field->data,
                                         "hours.exceptions[%uz]", i)
                             - field->data;
            }
            ngx_str_set(err, "must be {\"date\": \"YYYY-MM-DD\", "
                        "\"hours\": [\"HH:MM-HH:MM\", ...]} (hours [] "
                        "for closed all day)");
            return NGX_DECLINED;
        }

        h->exc[i].date = date;
    }

    h->nexc = json_array_size(exc);
    ngx_qsort(h->exc, h->nexc, sizeof(ngx_kefu_hours_day_t),
              ngx_kefu_hours_cmp);

    return NGX_OK;
}


/* ["09:00-12:00", "13:00-18:00"] */

static ngx_int_t
ngx_kefu_hours_intervals(json_t *a, ngx_kefu_interval_t *iv, ngx_uint_t *n)
{
    size_t       i;
    json_t      *v;
    ngx_int_t    t[4];
    ngx_uint_t   k;
    const char  *s;

    if (!json_is_array(a) || json_array_size(a) > NGX_KEFU_HOURS_PER_DAY) {
        return NGX_DECLINED;
    }

    json_array_foreach(a, i, v) {
        s = json_is_string(v) ? json_string_value(v) : "";

        if (ngx_strlen(s) != 11 || s[2] != ':' || s[5] != '-' || s[8] != ':')
        {
            return NGX_DECLINED;
        }

        for (k = 0; k < 4; k++) {
            t[k] = ngx_atoi((u_char *) s + k * 3, 2);

            if (t[k] == NGX_ERROR) {
                return NGX_DECLINED;
            }
        }

        if (t[0] > 23 || t[1] > 59 || t[2] > 24 || t[3] > 59
            || (t[2] == 24 && t[3] != 0)
            || t[2] * 60 + t[3] <= t[0] * 60 + t[1])
        {
            return NGX_DECLINED;
        }

        iv[i].from = (uint16_t) (t[0] * 60 + t[1]);
        iv[i].to = (uint16_t) (t[2] * 60 + t[3]);
    }

    *n = json_array_size(a);

    return NGX_OK;
}


static ngx_int_t
ngx_kefu_hours_date(json_t *v, int32_t *date)
{
    ngx_int_t    y, m, d;
    const char  *s;

    s = json_is_string(v) ? json_string_value(v) : "";

    if (ngx_strlen(s) != 10 || s[4] != '-' || s[7] != '-') {
        return NGX_DECLINED;
    }

    y = ngx_atoi((u_char *) s, 4);
    m = ngx_atoi((u_char *) s + 5, 2);
    d = ngx_atoi((u_char *) s + 8, 2);

    if (y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1 || d > 31) {
        return NGX_DECLINED;
    }

    *date = (int32_t) (y * 10000 + m * 100 + d);

    return NGX_OK;
}


static int
ngx_kefu_hours_cmp(const void *a, const void *b)
{
    const ngx_kefu_hours_day_t  *x = a, *y = b;

    return (x->date > y->date) - (x->date < y->date);
}


/*
 * Reads the zone file.  A blocking read of a small local file, done only
 * when settings are checked or loaded (an admin's change, a worker's
 * start), never per message.
 */

static ngx_int_t
ngx_kefu_hours_tz(const char *name, ngx_log_t *log, u_char **data,
    size_t *len)
{
    u_char           path[sizeof(NGX_KEFU_ZONEINFO) + 64];
    ssize_t          n;
    ngx_file_t       file;
    ngx_file_info_t  fi;

    ngx_sprintf(path, NGX_KEFU_ZONEINFO "%s%Z", name);

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.name.data = path;
    file.name.len = ngx_strlen(path);
    file.log = log;

    file.fd = ngx_open_file(path, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (file.fd == NGX_INVALID_FILE) {
        return NGX_DECLINED;
    }

    if (ngx_fd_info(file.fd, &fi) == NGX_FILE_ERROR
        || !ngx_is_file(&fi)
        || ngx_file_size(&fi) < 44
        || ngx_file_size(&fi) > NGX_KEFU_TZIF_MAX)
    {
        ngx_close_file(file.fd);
        return NGX_DECLINED;
    }

    *len = (size_t) ngx_file_size(&fi);
    *data = ngx_alloc(*len, log);

    if (*data == NULL) {
        ngx_close_file(file.fd);
        return NGX_ERROR;
    }

    n = ngx_read_file(&file, *data, *len, 0);
    ngx_close_file(file.fd);

    if (n != (ssize_t) *len || ngx_strncmp(*data, "TZif", 4) != 0) {
        ngx_free(*data);
        *data = NULL;
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* the transitions and their offsets, from the 64-bit block if there is one */

static ngx_int_t
ngx_kefu_hours_tzif(u_char *p, size_t len, ngx_kefu_hours_t *h,
    ngx_uint_t room)
{
    u_char      *last, *types, *idx;
    size_t       block;
    uint32_t     isut, isstd, leap, timecnt, typecnt, charcnt;
    ngx_uint_t   i, wide, k;

    last = p + len;
    wide = 0;

    for ( ;; ) {
        if (last - p < 44 || ngx_strncmp(p, "TZif", 4) != 0) {
            return NGX_DECLINED;
        }

        isut = ngx_kefu_be32(p + 20);
        isstd = ngx_kefu_be32(p + 24);
        leap = ngx_kefu_be32(p + 28);
        timecnt = ngx_kefu_be32(p + 32);
        typecnt = ngx_kefu_be32(p + 36);
        charcnt = ngx_kefu_be32(p + 40);

        if (typecnt == 0 || typecnt > 256 || timecnt > 100000
            || charcnt > 65536 || leap > 100000 || isut > 256 || isstd > 256)
        {
            return NGX_DECLINED;
        }

        block = timecnt * (wide ? 8 : 4) + timecnt + typecnt * 6 + charcnt
                + leap * (wide ? 12 : 8) + isstd + isut;

        if ((size_t) (last - p) < 44 + block) {
            return NGX_DECLINED;
        }

        if (!wide && p[4] >= '2') {
            /* skip the 32-bit block for the 64-bit one that follows */
            p += 44 + block;
            wide = 1;
            continue;
        }

        break;
    }

    if (timecnt > room) {
        return NGX_DECLINED;
    }

    p += 44;
    idx = p + timecnt * (wide ? 8 : 4);
    types = idx + timecnt;

    for (i = 0; i < timecnt; i++) {
        if (wide) {
            h->at[i] = (int64_t) ((uint64_t) ngx_kefu_be32(p + i * 8) << 32
                                  | ngx_kefu_be32(p + i * 8 + 4));

        } else {
            h->at[i] = (int32_t) ngx_kefu_be32(p + i * 4);
        }

        k = idx[i];

        if (k >= typecnt) {
            return NGX_DECLINED;
        }

        h->off[i] = (int32_t) ngx_kefu_be32(types + k * 6);
    }

    h->ntrans = timecnt;
    h->off0 = (int32_t) ngx_kefu_be32(types);

    return NGX_OK;
}


/* is the site open at this moment? */

ngx_uint_t
ngx_kefu_hours_open(ngx_kefu_hours_t *h, time_t now)
{
    int32_t               date;
    int64_t               local;
    ngx_tm_t              tm;
    ngx_int_t             lo, hi, mid;
    ngx_uint_t            i, n, minute;
    ngx_kefu_interval_t  *iv;

    if (h == NULL) {
        return 1;
    }

    /* the offset in force: the last transition at or before now */
    lo = 0;
    hi = (ngx_int_t) h->ntrans - 1;
    mid = -1;

    while (lo <= hi) {
        if (h->at[(lo + hi) / 2] <= now) {
            mid = (lo + hi) / 2;
            lo = mid + 1;

        } else {
            hi = (lo + hi) / 2 - 1;
        }
    }

    local = (int64_t) now + (mid >= 0 ? h->off[mid] : h->off0);

    ngx_gmtime((time_t) local, &tm);

    date = (int32_t) (tm.ngx_tm_year * 10000 + tm.ngx_tm_mon * 100
                      + tm.ngx_tm_mday);
    minute = (ngx_uint_t) (tm.ngx_tm_hour * 60 + tm.ngx_tm_min);

    n = h->nweek[tm.ngx_tm_wday];
    iv = h->week[tm.ngx_tm_wday];

    for (i = 0; i < h->nexc; i++) {
        if (h->exc[i].date == date) {
            n = h->exc[i].n;
            iv = h->exc[i].iv;
            break;
        }
    }

    for (i = 0; i < n; i++) {
        if (minute >= iv[i].from && minute < iv[i].to) {
            return 1;
        }
    }

    return 0;
}
