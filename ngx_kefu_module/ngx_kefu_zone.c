
/*
 * The session zone (see ngx_kefu_zone.h).  Modelled on nginx's limit_req
 * zone: the slab pool of a shared memory zone, an rbtree for lookups (of
 * client addresses) and a queue for walks, the old zone reused on reload.
 * Unlike rate-limit entries, a session cannot be evicted to make room: a
 * full zone refuses
 * the new session (logged and counted), it never fails a worker.  What it
 * can hold is logged at start and shown by the status endpoint
 * (ngx_kefu_zone_room()), so that a zone too small is seen before it
 * refuses anyone.
 */


#include "ngx_kefu.h"
#include "ngx_kefu_zone.h"

#include <signal.h>


static ngx_int_t ngx_kefu_zone_init(ngx_shm_zone_t *shm_zone, void *data);
static ngx_uint_t ngx_kefu_zone_shift(ngx_slab_pool_t *pool, size_t size,
    ngx_uint_t *slot);
static ngx_uint_t ngx_kefu_zone_per_page(ngx_uint_t shift);
static size_t ngx_kefu_zone_reserve(ngx_slab_pool_t *pool);
static ngx_uint_t ngx_kefu_zone_in_reserve(ngx_slab_pool_t *pool,
    size_t size);
static ngx_kefu_zone_addr_t *ngx_kefu_zone_addr_find(ngx_kefu_zone_sh_t *sh,
    ngx_str_t *addr, uint32_t hash);
static void ngx_kefu_zone_session_free(ngx_kefu_zone_t *zone,
    ngx_kefu_zone_session_t *s);


char *
ngx_kefu_zone_add(ngx_conf_t *cf, ngx_str_t *name, size_t size)
{
    ngx_shm_zone_t        *shm_zone;
    ngx_kefu_zone_t       *zone;
    ngx_kefu_main_conf_t  *kmcf;

    kmcf = ngx_http_conf_get_module_main_conf(cf, ngx_kefu_module);

    if (kmcf->zone) {
        return "is duplicate";
    }

    if (size < 8 * ngx_pagesize) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small: at least %uzk",
                           name, 8 * ngx_pagesize / 1024);
        return NGX_CONF_ERROR;
    }

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_kefu_zone_t));
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    shm_zone = ngx_shared_memory_add(cf, name, size, &ngx_kefu_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is already used by another module",
                           name);
        return NGX_CONF_ERROR;
    }

    shm_zone->init = ngx_kefu_zone_init;
    shm_zone->data = zone;

    zone->name = *name;
    zone->size = size;

    kmcf->zone = zone;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_kefu_zone_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_kefu_zone_t  *ozone = data;

    size_t            len;
    ngx_kefu_zone_t  *zone;

    zone = shm_zone->data;

    if (ozone) {
        /* reload: the sessions of the old workers are still there */
        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;
        return NGX_OK;
    }

    zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        zone->sh = zone->shpool->data;
        return NGX_OK;
    }

    zone->sh = ngx_slab_calloc(zone->shpool, sizeof(ngx_kefu_zone_sh_t));
    if (zone->sh == NULL) {
        return NGX_ERROR;
    }

    zone->shpool->data = zone->sh;

    ngx_queue_init(&zone->sh->sessions);
    ngx_rbtree_init(&zone->sh->addrs, &zone->sh->addrs_sentinel,
                    ngx_rbtree_insert_value);

    len = sizeof(" in kefu zone \"\"") + shm_zone->shm.name.len;

    zone->shpool->log_ctx = ngx_slab_alloc(zone->shpool, len);
    if (zone->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_snprintf(zone->shpool->log_ctx, len, " in kefu zone \"%V\"%Z",
                 &shm_zone->shm.name);

    /* a full zone is an expected condition we report ourselves */
    zone->shpool->log_nomem = 0;

    return NGX_OK;
}


/*
 * A worker that died without closing its connections left their sessions
 * behind; the worker that replaces it removes them.  Liveness is asked of
 * the kernel: after a reload, old workers that still drain connections
 * share worker slots with the new ones.
 */

ngx_int_t
ngx_kefu_zone_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                n, i;
    ngx_queue_t              *q, *next;
    ngx_kefu_zone_proc_t     *p;
    ngx_kefu_zone_t          *zone;
    ngx_kefu_main_conf_t     *kmcf;
    ngx_kefu_zone_session_t  *s;

    kmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_kefu_module);

    if (kmcf == NULL || kmcf->zone == NULL) {
        return NGX_OK;
    }

    zone = kmcf->zone;
    n = 0;

    /* from now on this worker counts host-wide */
    kmcf->stats = &zone->sh->stats;

    if (ngx_worker < NGX_KEFU_ZONE_WORKERS) {
        zone->sh->workers[ngx_worker].redis_cmd = 0;
        zone->sh->workers[ngx_worker].redis_sub = 0;
        zone->sh->workers[ngx_worker].redis_queue = 0;
        zone->sh->workers[ngx_worker].pid = ngx_pid;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    /* a slot of its own for its subscriptions: a free one, or a dead one's */
    for (i = 0; i < NGX_KEFU_ZONE_PROCS; i++) {
        p = &zone->sh->procs[i];

        if (p->pid == 0 || ngx_kefu_zone_pid_gone((ngx_pid_t) p->pid)) {
            p->pid = ngx_pid;
            p->subscriptions = 0;
            zone->proc = p;
            break;
        }
    }

    for (q = ngx_queue_head(&zone->sh->sessions);
         q != ngx_queue_sentinel(&zone->sh->sessions);
         q = next)
    {
        next = ngx_queue_next(q);
        s = ngx_queue_data(q, ngx_kefu_zone_session_t, queue);

        if (!ngx_kefu_zone_pid_gone(s->pid)) {
            continue;
        }

        ngx_kefu_zone_session_free(zone, s);
        n++;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (n) {
        ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                      "kefu: removed %ui sessions of exited workers", n);
    }

    if (zone->proc == NULL) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "kefu: more than %d nginx processes use the session "
                      "zone, this one's subscriptions are not counted",
                      NGX_KEFU_ZONE_PROCS);
    }

    return NGX_OK;
}


/*
 * At start and at each reload: what the zone holds, in the error log, and
 * a warning when its visitors' share is less than the connections the
 * workers may hold, which would be refused for the zone's sake rather than
 * for nginx's.  "nginx -t" stays quiet.
 */

ngx_int_t
ngx_kefu_zone_init_module(ngx_cycle_t *cycle)
{
    ngx_uint_t             conns, visitors, sessions;
    ngx_core_conf_t       *ccf;
    ngx_event_conf_t      *ecf;
    ngx_kefu_zone_t       *zone;
    ngx_kefu_zone_room_t   room;
    ngx_kefu_main_conf_t  *kmcf;

    kmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_kefu_module);

    if (ngx_test_config || kmcf == NULL || kmcf->zone == NULL
        || kmcf->zone->sh == NULL)
    {
        return NGX_OK;
    }

    zone = kmcf->zone;

    ngx_kefu_zone_room(zone, &room);

    sessions = zone->sh->sessions_n;
    visitors = zone->sh->by_role[NGX_KEFU_ROLE_VISITOR] + room.visitors;
    sessions += room.sessions;

    ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                  "kefu: kefu_zone \"%V\" (%uzk) holds about %ui sessions, "
                  "%ui of them visitors' (%ui held now)",
                  &zone->name, zone->size / 1024, sessions, visitors,
                  (ngx_uint_t) zone->sh->sessions_n);

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);
    ecf = ngx_event_get_conf(cycle->conf_ctx, ngx_event_core_module);

    if (ccf == NULL || ecf == NULL) {
        return NGX_OK;
    }

    conns = (ngx_uint_t) ccf->worker_processes * ecf->connections;

    if (visitors < conns) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "kefu: kefu_zone \"%V\" (%uzk) holds about %ui "
                      "visitors' sessions, fewer than the %ui connections "
                      "of worker_processes and worker_connections: "
                      "visitors past it will be refused",
                      &zone->name, zone->size / 1024, visitors, conns);
    }

    return NGX_OK;
}


/*
 * How many more sessions fit now: in free pages and in the free chunks of
 * the sessions' slab slot, for agents and admins; for visitors, what is
 * left above the reserve (as ngx_kefu_zone_in_reserve() counts).  Address
 * records of anonymous visitors take from the same pages, so it is "about".
 */

void
ngx_kefu_zone_room(ngx_kefu_zone_t *zone, ngx_kefu_zone_room_t *room)
{
    ngx_uint_t        shift, slot, chunks, per_page, pfree, reserve, under;
    ngx_slab_pool_t  *pool;

    pool = zone->shpool;

    ngx_shmtx_lock(&pool->mutex);

    shift = ngx_kefu_zone_shift(pool, sizeof(ngx_kefu_zone_session_t), &slot);
    chunks = pool->stats[slot].total - pool->stats[slot].used;
    pfree = pool->pfree;
    reserve = ngx_kefu_zone_reserve(pool) >> ngx_pagesize_shift;

    ngx_shmtx_unlock(&pool->mutex);

    per_page = ngx_kefu_zone_per_page(shift);

    room->sessions = pfree * per_page + chunks;

    /* free chunks first, then whole pages down to the reserve's; or, with
     * the reserve reached, the chunks beyond what stands for its pages */
    if (pfree > reserve) {
        room->visitors = chunks + (pfree - reserve) * per_page;

    } else {
        under = (reserve - pfree) << (ngx_pagesize_shift - shift);
        room->visitors = chunks > under ? chunks - under : 0;
    }
}


/* this process's channels, as it subscribes and unsubscribes */

void
ngx_kefu_zone_subscriptions(ngx_kefu_zone_t *zone, ngx_int_t delta)
{
    if (zone == NULL) {
        return;
    }

    if (zone->proc) {
        (void) ngx_atomic_fetch_add(&zone->proc->subscriptions,
                                    (ngx_atomic_int_t) delta);

    } else if (delta > 0) {
        (void) ngx_atomic_fetch_add(&zone->sh->uncounted, 1);
    }
}


ngx_uint_t
ngx_kefu_zone_subscriptions_total(ngx_kefu_zone_t *zone)
{
    ngx_uint_t             i, n;
    ngx_pid_t              pid;
    ngx_kefu_zone_proc_t  *p;

    n = 0;

    for (i = 0; i < NGX_KEFU_ZONE_PROCS; i++) {
        p = &zone->sh->procs[i];
        pid = (ngx_pid_t) p->pid;

        if (pid && !ngx_kefu_zone_pid_gone(pid)) {
            n += p->subscriptions;
        }
    }

    return n;
}


/* the slab slot's shift (and index) of an allocation of size, as
 * ngx_slab_alloc_locked() finds it; sessions are smaller than a page */

static ngx_uint_t
ngx_kefu_zone_shift(ngx_slab_pool_t *pool, size_t size, ngx_uint_t *slot)
{
    size_t      s;
    ngx_uint_t  shift;

    if (size > pool->min_size) {
        shift = 1;
        for (s = size - 1; s >>= 1; shift++) { /* void */ }
        *slot = shift - pool->min_shift;

    } else {
        shift = pool->min_shift;
        *slot = 0;
    }

    return shift;
}


/* chunks of 1 << shift a page holds: small ones keep their bitmap there */

static ngx_uint_t
ngx_kefu_zone_per_page(ngx_uint_t shift)
{
    ngx_uint_t  chunks, map;

    chunks = ngx_pagesize >> shift;

    if (((size_t) 1 << shift) >= ngx_pagesize / (8 * sizeof(uintptr_t))) {
        return chunks;
    }

    map = chunks / 8;

    return chunks - ((map + ((size_t) 1 << shift) - 1) >> shift);
}


/* an eighth of the zone, at least two pages */

static size_t
ngx_kefu_zone_reserve(ngx_slab_pool_t *pool)
{
    size_t  pages;

    pages = (pool->end - pool->start) >> ngx_pagesize_shift;

    return ngx_max(pages / 8, 2) << ngx_pagesize_shift;
}


/*
 * Whether an allocation of size would eat into the reserve: the room left
 * for it is the free pages and the free chunks of its slab slot.  Counting
 * chunks, not pages only, lets a visitor take the place of one that left,
 * while pages that agents opened in the reserve still count as the
 * reserve's.
 */

static ngx_uint_t
ngx_kefu_zone_in_reserve(ngx_slab_pool_t *pool, size_t size)
{
    size_t      room;
    ngx_uint_t  shift, slot;

    shift = ngx_kefu_zone_shift(pool, size, &slot);

    room = (pool->pfree << ngx_pagesize_shift)
           + ((pool->stats[slot].total - pool->stats[slot].used) << shift);

    return room < ngx_kefu_zone_reserve(pool) + ((size_t) 1 << shift);
}


ngx_uint_t
ngx_kefu_zone_pid_gone(ngx_pid_t pid)
{
    return pid != ngx_pid && kill(pid, 0) == -1 && ngx_errno == ESRCH;
}


/*
 * Visitors may not take the zone's last pages: those are kept for agents
 * and admins, so that a flood of visitors (anonymous ones cost nothing to
 * make) can never lock the people who answer them out.
 */

ngx_int_t
ngx_kefu_zone_session_add(ngx_kefu_zone_t *zone, ngx_uint_t role,
    ngx_str_t *addr, ngx_uint_t per_addr, void **session)
{
    size_t                    size;
    uint32_t                  hash;
    ngx_kefu_zone_addr_t     *za;
    ngx_kefu_zone_session_t  *s;

    za = NULL;
    hash = addr ? ngx_crc32_short(addr->data, addr->len) : 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    size = sizeof(ngx_kefu_zone_session_t);

    if (role == NGX_KEFU_ROLE_VISITOR
        && ngx_kefu_zone_in_reserve(zone->shpool, size))
    {
        zone->sh->refused++;
        zone->sh->refused_visitors++;
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_DECLINED;
    }

    if (addr && per_addr && addr->len <= 255) {
        za = ngx_kefu_zone_addr_find(zone->sh, addr, hash);

        if (za && za->sessions >= per_addr) {
            zone->sh->refused_address++;
            ngx_shmtx_unlock(&zone->shpool->mutex);
            return NGX_BUSY;
        }

        if (za == NULL) {
            za = ngx_slab_alloc_locked(zone->shpool,
                                       offsetof(ngx_kefu_zone_addr_t, addr)
                                       + addr->len);
            if (za == NULL) {
                zone->sh->refused++;
                ngx_shmtx_unlock(&zone->shpool->mutex);
                return NGX_DECLINED;
            }

            za->node.key = hash;
            za->sessions = 0;
            za->len = (u_char) addr->len;
            ngx_memcpy(za->addr, addr->data, addr->len);
            ngx_rbtree_insert(&zone->sh->addrs, &za->node);
        }
    }

    s = ngx_slab_alloc_locked(zone->shpool, size);

    if (s == NULL) {
        if (za && za->sessions == 0) {
            ngx_rbtree_delete(&zone->sh->addrs, &za->node);
            ngx_slab_free_locked(zone->shpool, za);
        }

        zone->sh->refused++;
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_DECLINED;
    }

    if (za) {
        za->sessions++;
    }

    s->addr = za;
    s->pid = ngx_pid;
    s->role = (u_char) role;

    ngx_queue_insert_head(&zone->sh->sessions, &s->queue);
    zone->sh->sessions_n++;
    zone->sh->by_role[role & 3]++;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    *session = s;

    return NGX_OK;
}


/* with the zone locked: the session goes, and its place at its address */

static void
ngx_kefu_zone_session_free(ngx_kefu_zone_t *zone, ngx_kefu_zone_session_t *s)
{
    ngx_kefu_zone_addr_t  *za;

    za = s->addr;

    if (za && --za->sessions == 0) {
        ngx_rbtree_delete(&zone->sh->addrs, &za->node);
        ngx_slab_free_locked(zone->shpool, za);
    }

    ngx_queue_remove(&s->queue);
    zone->sh->sessions_n--;
    zone->sh->by_role[s->role & 3]--;
    ngx_slab_free_locked(zone->shpool, s);
}


/*
 * Equal keys (a crc32 collision) may sit on either side of each other once
 * the tree has rotated, so both sides of an equal key are looked at.
 */

static ngx_kefu_zone_addr_t *
ngx_kefu_zone_addr_find_from(ngx_rbtree_node_t *node,
    ngx_rbtree_node_t *sentinel, ngx_str_t *addr, uint32_t hash)
{
    ngx_kefu_zone_addr_t  *za;

    while (node != sentinel) {

        if (hash != node->key) {
            node = (hash < node->key) ? node->left : node->right;
            continue;
        }

        za = (ngx_kefu_zone_addr_t *) node;

        if (za->len == addr->len
            && ngx_memcmp(za->addr, addr->data, addr->len) == 0)
        {
            return za;
        }

        za = ngx_kefu_zone_addr_find_from(node->left, sentinel, addr, hash);

        if (za) {
            return za;
        }

        node = node->right;
    }

    return NULL;
}


static ngx_kefu_zone_addr_t *
ngx_kefu_zone_addr_find(ngx_kefu_zone_sh_t *sh, ngx_str_t *addr,
    uint32_t hash)
{
    return ngx_kefu_zone_addr_find_from(sh->addrs.root, sh->addrs.sentinel,
                                        addr, hash);
}


void
ngx_kefu_zone_session_del(ngx_kefu_zone_t *zone, void *session)
{
    ngx_shmtx_lock(&zone->shpool->mutex);
    ngx_kefu_zone_session_free(zone, session);
    ngx_shmtx_unlock(&zone->shpool->mutex);
}
