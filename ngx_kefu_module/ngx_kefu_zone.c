
/*
 * The session zone (see ngx_kefu_zone.h).  Modelled on nginx's limit_req
 * zone: the slab pool of a shared memory zone, an rbtree for lookups and a
 * queue for walks, the old zone reused on reload.  Unlike rate-limit
 * entries, a session cannot be evicted to make room: a full zone refuses
 * the new session (logged and counted), it never fails a worker.
 */


#include "ngx_kefu.h"
#include "ngx_kefu_zone.h"

#include <signal.h>


static ngx_int_t ngx_kefu_zone_init(ngx_shm_zone_t *shm_zone, void *data);
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

    ngx_rbtree_init(&zone->sh->rbtree, &zone->sh->sentinel,
                    ngx_rbtree_insert_value);
    ngx_queue_init(&zone->sh->sessions);
    ngx_rbtree_init(&zone->sh->addrs, &zone->sh->addrs_sentinel,
                    ngx_rbtree_insert_value);
    ngx_kefu_zone_channels_init(zone->sh);

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
    ngx_uint_t                n;
    ngx_queue_t              *q, *next;
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
        zone->sh->workers[ngx_worker].pid = ngx_pid;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

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

    n = ngx_kefu_zone_channels_reap(zone);

    if (n) {
        ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                      "kefu: removed %ui subscriptions of exited workers", n);
    }

    return NGX_OK;
}


/*
 * Whether an allocation of size would eat into the reserve, an eighth of
 * the zone (at least two pages): the room left for it is the free pages and
 * the free chunks of its slab slot (found as ngx_slab_alloc_locked() finds
 * it; sessions are smaller than a page).  Counting chunks, not pages only,
 * lets a visitor take the place of one that left, while pages that agents
 * opened in the reserve still count as the reserve's.
 */

static ngx_uint_t
ngx_kefu_zone_in_reserve(ngx_slab_pool_t *pool, size_t size)
{
    size_t      s, pages, room;
    ngx_uint_t  shift, slot;

    pages = (pool->end - pool->start) >> ngx_pagesize_shift;

    if (size > pool->min_size) {
        shift = 1;
        for (s = size - 1; s >>= 1; shift++) { /* void */ }
        slot = shift - pool->min_shift;

    } else {
        shift = pool->min_shift;
        slot = 0;
    }

    room = (pool->pfree << ngx_pagesize_shift)
           + ((pool->stats[slot].total - pool->stats[slot].used) << shift);

    return room < (ngx_max(pages / 8, 2) << ngx_pagesize_shift)
                  + ((size_t) 1 << shift);
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
ngx_kefu_zone_session_add(ngx_kefu_zone_t *zone, uint64_t sid,
    ngx_uint_t site, ngx_uint_t role, ngx_str_t *id, ngx_str_t *addr,
    ngx_uint_t per_addr)
{
    size_t                    size;
    uint32_t                  hash;
    ngx_kefu_zone_addr_t     *za;
    ngx_kefu_zone_session_t  *s;

    za = NULL;
    hash = addr ? ngx_crc32_short(addr->data, addr->len) : 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    size = offsetof(ngx_kefu_zone_session_t, id) + id->len;

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

    s->node.key = (ngx_rbtree_key_t) sid;
    s->addr = za;
    s->pid = ngx_pid;
    s->started = ngx_time();
    s->site = (uint16_t) site;
    s->role = (u_char) role;
    s->len = (u_char) id->len;
    s->state = NGX_KEFU_PRESENCE_UNKNOWN;
    s->load = 0;
    ngx_memcpy(s->id, id->data, id->len);

    ngx_rbtree_insert(&zone->sh->rbtree, &s->node);
    ngx_queue_insert_head(&zone->sh->sessions, &s->queue);
    zone->sh->sessions_n++;
    zone->sh->by_role[role & 3]++;

    ngx_shmtx_unlock(&zone->shpool->mutex);

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
    ngx_rbtree_delete(&zone->sh->rbtree, &s->node);
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
ngx_kefu_zone_session_del(ngx_kefu_zone_t *zone, uint64_t sid)
{
    ngx_rbtree_key_t          key;
    ngx_rbtree_node_t        *node, *sentinel;
    ngx_kefu_zone_session_t  *s;

    key = (ngx_rbtree_key_t) sid;

    ngx_shmtx_lock(&zone->shpool->mutex);

    node = zone->sh->rbtree.root;
    sentinel = zone->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (key != node->key) {
            node = (key < node->key) ? node->left : node->right;
            continue;
        }

        s = (ngx_kefu_zone_session_t *) node;

        /* ids are random 64-bit numbers: equal keys are the same session */
        ngx_kefu_zone_session_free(zone, s);
        break;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/* an agent session's mirror of its presence: state and load, -1 unchanged */

void
ngx_kefu_zone_session_agent(ngx_kefu_zone_t *zone, uint64_t sid,
    ngx_int_t state, ngx_int_t load)
{
    ngx_rbtree_key_t          key;
    ngx_rbtree_node_t        *node, *sentinel;
    ngx_kefu_zone_session_t  *s;

    if (zone == NULL) {
        return;
    }

    key = (ngx_rbtree_key_t) sid;

    ngx_shmtx_lock(&zone->shpool->mutex);

    node = zone->sh->rbtree.root;
    sentinel = zone->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (key != node->key) {
            node = (key < node->key) ? node->left : node->right;
            continue;
        }

        s = (ngx_kefu_zone_session_t *) node;

        if (state >= 0) {
            s->state = (u_char) state;
        }

        if (load >= 0) {
            s->load = (uint16_t) ngx_min(load, 65535);
        }

        break;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}
