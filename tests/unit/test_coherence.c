// SPDX-License-Identifier: MIT
/*
 * test_coherence.c - mm/coherence.h and the paths that must use it: the
 * helpers count on a coherent pool and issue clwb/clflushopt on a
 * non-coherent one; a metadata commit flushes what it publishes; a reader
 * of the leader's epoch and change sequence invalidates first; a follower's
 * view invalidates the metadata it reads; file bytes are flushed and
 * invalidated through their extents. Also the cluster mark: a leader's open
 * stores its epoch, a single-host open of a cluster's pool is refused, an
 * older epoch may not lead, a fenced leader's commit is dropped whole.
 * And global holds: a node's mark keeps the leader's evictor off a file
 * (parked until released), the leader's evicting mark refuses a new hold, a
 * hold of a file's earlier life is refused, a cleared slot lets go.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coherence.h"
#include "log.h"
#include "mm.h"
#include "pool_int.h"
#include "nodes.h"

static char path[64];
static char lastlog[1024];
static bool fence_open = true;

static void capture_log(enum kv_log_level level, const char *fmt, va_list ap)
{
	vsnprintf(lastlog, sizeof(lastlog), fmt, ap);
}

static int setup(void **state)
{
	snprintf(path, sizeof(path), "/tmp/kvfs-unit-coh-%d.pool", getpid());
	unlink(path);
	lastlog[0] = 0;
	kv_log_set_handler(capture_log);
	kv_coh_set_coherent(true);
	kv_coh_reset_counts(); /* and count */
	assert_int_equal(kv_pool_mkfs(path, 64ull << 20, 0, false), 0);
	return 0;
}

static int teardown(void **state)
{
	kv_coh_set_coherent(true);
	unlink(path);
	return 0;
}

static struct kv_pool *open_as(bool cluster, bool readonly, uint64_t epoch, int *rc)
{
	struct kv_open_opts o = { .numa_node = -1,
				  .readonly = readonly,
				  .cluster = cluster,
				  .cluster_epoch = epoch,
				  .cluster_node = "n1" };
	struct kv_pool *p = NULL;

	*rc = kv_pool_open(path, &o, &p);
	return p;
}

static void test_helpers(void **state)
{
	static char buf[4096] __attribute__((aligned(64)));
	struct kv_coh_counts c;

	kv_coh_reset_counts();
	kv_coh_flush(buf, sizeof(buf));
	kv_coh_invalidate(buf, 100);
	kv_coh_counts(&c);
	assert_int_equal(c.flushes, 1);
	assert_int_equal(c.invalidates, 1);
	assert_int_equal(c.lines, 0); /* coherent: no instruction */

	kv_coh_set_coherent(false);
	assert_false(kv_coh_coherent());
	buf[0] = 1;
	kv_coh_flush(buf, sizeof(buf)); /* 64 lines */
	kv_coh_invalidate(buf + 10, 100); /* lines 0 and 1 */
	kv_coh_flush(buf, 0);
	kv_coh_counts(&c);
	assert_int_equal(c.flushes, 3);
	assert_int_equal(c.invalidates, 2);
	assert_int_equal(c.lines, 64 + 2);
	assert_int_equal(buf[0], 1); /* flushing keeps the bytes */
}

static void test_commit_flushes(void **state)
{
	struct kv_coh_counts before, after;
	struct kv_attr a;
	uint64_t dir;
	int rc;
	struct kv_pool *p = open_as(true, false, 7, &rc);

	assert_int_equal(rc, 0);
	assert_int_equal(kv_pool_cluster_epoch(p), 7);
	assert_int_equal(kv_create(p, 1, "d", 1, S_IFDIR | 0755, 0, 0, &a), 0);
	dir = a.ino;
	assert_int_equal(kv_create(p, dir, "f", 1, 0100644, 0, 0, &a), 0);
	kv_coh_counts(&before);
	assert_int_equal(kv_unlink(p, dir, "f", 1), 0);
	kv_coh_counts(&after);
	/* an unlink publishes through the journal: each record, the head, the mark, the clear */
	assert_true(after.flushes >= before.flushes + 4);
	kv_coh_counts(&before);
	(void)kv_pool_change_seq(p);
	(void)kv_pool_cluster_epoch(p);
	kv_coh_counts(&after);
	assert_true(after.invalidates >= before.invalidates + 3);
	kv_coh_counts(&before);
	kv_pool_cluster_changed(p);
	kv_coh_counts(&after);
	assert_true(after.flushes > before.flushes);
	kv_pool_close(p);
}

static void test_view_invalidates(void **state)
{
	struct kv_coh_counts before, after;
	int rc;
	struct kv_pool *p = open_as(true, false, 3, &rc), *v;

	assert_int_equal(rc, 0);
	kv_coh_counts(&before);
	v = open_as(true, true, 0, &rc); /* a follower's view, beside the leader */
	assert_int_equal(rc, 0);
	kv_coh_counts(&after);
	assert_true(after.invalidates > before.invalidates);
	kv_pool_close(v);
	kv_pool_close(p);
}

static void test_file_bytes(void **state)
{
	struct kv_coh_counts before, after;
	struct kv_attr a;
	char data[10000];
	int rc;
	struct kv_pool *p = open_as(true, false, 3, &rc);

	assert_int_equal(rc, 0);
	assert_int_equal(kv_create(p, 1, "f", 1, 0100644, 0, 0, &a), 0);
	memset(data, 'x', sizeof(data));
	assert_int_equal(kv_write(p, a.ino, data, sizeof(data), 0), (int)sizeof(data));
	kv_coh_set_coherent(false);
	kv_coh_reset_counts();
	kv_pool_coh_file(p, a.ino, 0, sizeof(data), true);
	kv_pool_coh_file(p, a.ino, 100, 50, false);
	kv_pool_coh_file(p, a.ino, 1 << 30, 50, false); /* past the end: nothing */
	kv_coh_counts(&after);
	assert_int_equal(after.flushes, 1);
	assert_int_equal(after.invalidates, 1);
	assert_int_equal(after.lines, (10000 + 63) / 64 + 2);
	kv_coh_counts(&before);
	kv_pool_coh_file(p, 999999, 0, 10, true); /* no such record */
	kv_coh_counts(&after);
	assert_int_equal(after.flushes, before.flushes);
	kv_pool_close(p);
}

static bool fence(void *arg)
{
	return fence_open;
}

static void test_cluster_mark(void **state)
{
	struct kv_attr a;
	int rc;
	struct kv_pool *p = open_as(true, false, 5, &rc), *q;
	char who[32];
	uint64_t seq;

	assert_int_equal(rc, 0);
	assert_string_equal(kv_pool_cluster_leader(p, who, sizeof(who)), "n1");
	kv_pool_close(p);
	/* one host may not take a cluster's pool; a reader may look */
	q = open_as(false, false, 0, &rc);
	assert_int_equal(rc, -EBUSY);
	assert_null(q);
	assert_non_null(strstr(lastlog, "belongs to a kvfs cluster"));
	q = open_as(false, true, 0, &rc);
	assert_int_equal(rc, 0);
	kv_pool_close(q);
	/* an older epoch may not lead; a newer one may */
	q = open_as(true, false, 4, &rc);
	assert_int_equal(rc, -ESTALE);
	p = open_as(true, false, 9, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(kv_create(p, 1, "keep", 4, 0100644, 0, 0, &a), 0);
	assert_int_equal(kv_create(p, 1, "keep2", 5, 0100644, 0, 0, &a), 0);
	/* fenced by the hook: the unlink's commit is dropped whole */
	kv_pool_set_fence_hook(p, fence, NULL);
	fence_open = false;
	seq = kv_pool_change_seq(p);
	assert_int_equal(kv_unlink(p, 1, "keep", 4), 0); /* in this process's DRAM only */
	assert_int_equal(kv_pool_commits_refused(p), 1);
	assert_int_equal(kv_pool_change_seq(p), seq);
	assert_non_null(strstr(lastlog, "fenced"));
	fence_open = true;
	/* fenced by a newer leader's epoch */
	q = open_as(true, false, 12, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(kv_lookup(q, 1, "keep", 4, &a), 0); /* the dropped unlink never happened */
	assert_int_equal(kv_unlink(p, 1, "keep2", 5), 0);
	assert_int_equal(kv_pool_commits_refused(p), 2);
	assert_int_equal(kv_pool_change_seq(p), seq);
	assert_int_equal(kv_pool_cluster_renew(p, 13), -ESTALE);
	assert_int_equal(kv_pool_cluster_renew(q, 13), 0);
	assert_int_equal(kv_pool_cluster_epoch(q), 13);
	kv_pool_close(p);
	/* the last node hands the pool back to one host */
	assert_int_equal(kv_pool_cluster_leave(q, 12), -ESTALE);
	assert_int_equal(kv_pool_cluster_leave(q, 13), 0);
	kv_pool_close(q);
	q = open_as(false, false, 0, &rc);
	assert_int_equal(rc, 0);
	kv_pool_close(q);
}

static void test_global_holds(void **state)
{
	struct kv_attr a, b;
	int rc;
	struct kv_pool *p = open_as(true, false, 3, &rc);

	assert_int_equal(rc, 0);
	assert_true(kv_pool_holds_usable(p));
	assert_int_equal(kv_create(p, 1, "a", 1, 0100644, 0, 0, &a), 0);
	assert_int_equal(kv_create(p, 1, "b", 1, 0100644, 0, 0, &b), 0);
	/* a follower in slot 2 holds a: the evictor parks it and takes b */
	assert_int_equal(kv_pool_remote_hold(p, 2, a.ino, a.gen), 0);
	assert_int_equal(kv_pool_slot_holds(p, 2), 1);
	pthread_mutex_lock(&p->lock);
	assert_false(kv_nodes_evict_ok(p, a.ino));
	assert_true(kv_nodes_evict_ok(p, b.ino)); /* marked evicting now */
	pthread_mutex_unlock(&p->lock);
	/* while b is being evicted, nobody may take a hold of it */
	assert_int_equal(kv_pool_remote_hold(p, 1, b.ino, b.gen), -ESTALE);
	assert_int_equal(kv_pool_slot_holds(p, 1), 0);
	kv_nodes_evicted(p, b.ino);
	/* a hold of another life of the record is refused */
	assert_int_equal(kv_pool_remote_hold(p, 1, a.ino, a.gen + 1), -ESTALE);
	assert_int_equal(kv_pool_remote_hold(p, 1, 0, 0), -EINVAL);
	assert_int_equal(kv_pool_remote_hold(p, KV_CLUSTER_SLOTS, a.ino, a.gen), -EINVAL);
	/* still held: not back in the LRU; released (its node's lease ended): back */
	assert_int_equal(kv_pool_cluster_unpark(p), 0);
	kv_pool_slot_clear(p, 2);
	assert_int_equal(kv_pool_slot_holds(p, 2), 0);
	assert_int_equal(kv_pool_cluster_unpark(p), 1);
	pthread_mutex_lock(&p->lock);
	assert_true(kv_nodes_evict_ok(p, a.ino));
	kv_nodes_evicted(p, a.ino);
	pthread_mutex_unlock(&p->lock);
	/* the mailboxes end the journal, past the holds */
	assert_non_null(kv_pool_rpc_box(p, 0));
	assert_null(kv_pool_rpc_box(p, KV_CLUSTER_SLOTS));
	assert_true((uint8_t *)kv_pool_rpc_box(p, KV_CLUSTER_SLOTS - 1) + KV_CLUSTER_BOX_SIZE <=
		    (uint8_t *)p->base + kv_pool_geometry(p)->journal_off +
			kv_pool_geometry(p)->journal_size);
	kv_pool_close(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_helpers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_flushes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_view_invalidates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cluster_mark, setup, teardown),
		cmocka_unit_test_setup_teardown(test_global_holds, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
