
/*
 * The session zone's subscriptions: per worker and channel, how many of
 * the worker's connections are in it (ngx_kefu_zone.h).  Delivery does not
 * depend on them (each worker fans out what it subscribed to); they are
 * the host's view of its conversations for the status endpoint and the
 * API.  A full zone therefore loses no message: the subscription goes
 * uncounted, which is logged and counted.
 */


#include "ngx_kefu.h"
#include "ngx_kefu_zone.h"


static ngx_kefu_zone_channel_t *ngx_kefu_zone_channel_first(
    ngx_kefu_zone_sh_t *sh, ngx_str_t *channel, uint32_t hash);


void
ngx_kefu_zone_channels_init(ngx_kefu_zone_sh_t *sh)
{
    ngx_rbtree_init(&sh->channels, &sh->channels_sentinel,
                    ngx_rbtree_insert_value);
    ngx_queue_init(&sh->channels_queue);
}


ngx_kefu_zone_channel_t *
ngx_kefu_zone_channel_add(ngx_kefu_zone_t *zone, ngx_str_t *channel)
{
    ngx_kefu_zone_channel_t  *zc;

    if (channel->len > 255) {
        return NULL;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    zc = ngx_slab_alloc_locked(zone->shpool,
                               offsetof(ngx_kefu_zone_channel_t, channel)
                               + channel->len);

    if (zc == NULL) {
        zone->sh->channels_refused++;
        ngx_shmtx_unlock(&zone->shpool->mutex);

        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "kefu: session zone is full, \"%V\" is not counted",
                      channel);
        return NULL;
    }

    zc->node.key = ngx_crc32_short(channel->data, channel->len);
    zc->pid = ngx_pid;
    zc->members = 0;
    zc->len = (u_char) channel->len;
    ngx_memcpy(zc->channel, channel->data, channel->len);

    ngx_rbtree_insert(&zone->sh->channels, &zc->node);
    ngx_queue_insert_head(&zone->sh->channels_queue, &zc->queue);
    zone->sh->channels_n++;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return zc;
}


void
ngx_kefu_zone_channel_members(ngx_kefu_zone_t *zone,
    ngx_kefu_zone_channel_t *zc, ngx_int_t delta)
{
    ngx_shmtx_lock(&zone->shpool->mutex);

    if (delta > 0 || zc->members >= (ngx_uint_t) -delta) {
        zc->members += delta;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


void
ngx_kefu_zone_channel_del(ngx_kefu_zone_t *zone, ngx_kefu_zone_channel_t *zc)
{
    ngx_shmtx_lock(&zone->shpool->mutex);

    ngx_queue_remove(&zc->queue);
    ngx_rbtree_delete(&zone->sh->channels, &zc->node);
    zone->sh->channels_n--;
    ngx_slab_free_locked(zone->shpool, zc);

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/* the host's connections in a channel, and how many workers carry them */

ngx_uint_t
ngx_kefu_zone_channel_count(ngx_kefu_zone_t *zone, ngx_str_t *channel,
    ngx_uint_t *workers)
{
    uint32_t                  hash;
    ngx_uint_t                members, n;
    ngx_rbtree_node_t        *node, *sentinel;
    ngx_kefu_zone_channel_t  *zc;

    hash = ngx_crc32_short(channel->data, channel->len);
    members = 0;
    n = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    sentinel = zone->sh->channels.sentinel;
    zc = ngx_kefu_zone_channel_first(zone->sh, channel, hash);

    /* equal keys sit in one subtree: walk it in order from the first */
    for (node = zc ? &zc->node : sentinel;
         node != sentinel && node->key == hash;
         node = ngx_rbtree_next(&zone->sh->channels, node))
    {
        zc = (ngx_kefu_zone_channel_t *) node;

        if (zc->len == channel->len
            && ngx_memcmp(zc->channel, channel->data, channel->len) == 0)
        {
            members += zc->members;
            n++;
        }
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (workers) {
        *workers = n;
    }

    return members;
}


static ngx_kefu_zone_channel_t *
ngx_kefu_zone_channel_first(ngx_kefu_zone_sh_t *sh, ngx_str_t *channel,
    uint32_t hash)
{
    ngx_rbtree_node_t  *node, *sentinel, *found;

    node = sh->channels.root;
    sentinel = sh->channels.sentinel;
    found = NULL;

    /* the leftmost node with this key */
    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;

        } else if (hash > node->key) {
            node = node->right;

        } else {
            found = node;
            node = node->left;
        }
    }

    return (ngx_kefu_zone_channel_t *) found;
}


/* subscriptions of workers that died without leaving their channels */

ngx_uint_t
ngx_kefu_zone_channels_reap(ngx_kefu_zone_t *zone)
{
    ngx_uint_t                n;
    ngx_queue_t              *q, *next;
    ngx_kefu_zone_channel_t  *zc;

    n = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    for (q = ngx_queue_head(&zone->sh->channels_queue);
         q != ngx_queue_sentinel(&zone->sh->channels_queue);
         q = next)
    {
        next = ngx_queue_next(q);
        zc = ngx_queue_data(q, ngx_kefu_zone_channel_t, queue);

        if (!ngx_kefu_zone_pid_gone(zc->pid)) {
            continue;
        }

        ngx_queue_remove(q);
        ngx_rbtree_delete(&zone->sh->channels, &zc->node);
        zone->sh->channels_n--;
        ngx_slab_free_locked(zone->shpool, zc);
        n++;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return n;
}
