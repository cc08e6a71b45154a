// SPDX-License-Identifier: MIT
/*
 * loop.c - the daemon's FUSE request loop: libfuse's multi-threaded loop,
 * but with the idle workers taken last-in, first-out.
 *
 * The kernel hands each request to the reader of /dev/fuse that has waited
 * longest. libfuse's loop keeps every worker it started waiting in read(),
 * so once a burst of concurrent requests has started eight of them, even one
 * client's calls made one after another go round all eight, each on a core
 * where the call's lines (the worker's buffers, the records and pin table it
 * touched last time) went cold since. A 2,048-block lookup on H200 hosts
 * took 0.124-0.141 ms after a burst (a process's opens one after another
 * are one: the kernel's RELEASEs overlap the next call) against 0.072-0.076
 * on a fresh mount, where the same calls alternate between two workers
 * (tests/device/results-h200-meta.txt, runs 18-20).
 *
 * Here at most KV_LOOP_READERS workers wait in read(); the others wait on a
 * stack of their own, and the one that finished last is woken first, only
 * when no worker is left reading. Sequential calls alternate between two
 * workers, whatever ran before; concurrent ones still get up to the
 * configured number. What libfuse's loop does otherwise is kept: signals go
 * to the main thread, a burst of FORGETs starts no worker, an exit (unmount,
 * signal, error) cancels the workers waiting in read() and joins them all,
 * and a signal is seen whichever of the daemon's threads it was given to.
 */
#include "loop.h"
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KV_LOOP_READERS 2

/* the kernel ABI's request header and the FORGET opcodes (linux/fuse.h) */
struct kv_in_header {
	uint32_t len;
	uint32_t opcode;
};
enum { KV_FUSE_FORGET = 2, KV_FUSE_BATCH_FORGET = 42 };

struct kv_loop;

struct kv_worker {
	struct kv_loop *lp;
	struct kv_worker *parked_next; /* below it on the stack of parked workers */
	struct kv_worker *all_next;
	pthread_t tid;
	pthread_cond_t wake;
	int woken;
	struct fuse_buf fbuf;
};

struct kv_loop {
	struct fuse_session *se;
	pthread_mutex_t lock;
	struct kv_worker *parked; /* the top: the one that waited least */
	struct kv_worker *all;
	unsigned workers, max_workers, readers;
	int exit, error;
	sem_t finish;
};

static void *worker_main(void *arg);

/* Start a worker (under lp->lock), with the signals the main thread takes blocked. */
static int start_worker(struct kv_loop *lp)
{
	struct kv_worker *w = calloc(1, sizeof(*w));
	sigset_t block, old;
	int rc;

	if (!w)
		return -ENOMEM;
	w->lp = lp;
	pthread_cond_init(&w->wake, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGQUIT);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	rc = pthread_create(&w->tid, NULL, worker_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		kv_log(KV_LOG_ERR, "cannot start a FUSE worker: %s", strerror(rc));
		pthread_cond_destroy(&w->wake);
		free(w);
		return -rc;
	}
	pthread_setname_np(w->tid, "kvfs-worker"); /* ps -L, top -H */
	w->all_next = lp->all;
	lp->all = w;
	lp->workers++;
	return 0;
}

/* A request was taken and nobody is left reading: wake the last parked worker, or start one. */
static void keep_reading(struct kv_loop *lp)
{
	struct kv_worker *w = lp->parked;

	if (w) {
		lp->parked = w->parked_next;
		w->woken = 1;
		pthread_cond_signal(&w->wake);
	} else if (lp->workers < lp->max_workers) {
		start_worker(lp); /* failed: the others serve on (said why) */
	}
}

/* Under lp->lock: park while enough workers read. Return: 0 to read, -1 on exit. */
static int take_read_turn(struct kv_loop *lp, struct kv_worker *w)
{
	while (!lp->exit && lp->readers >= KV_LOOP_READERS) {
		w->woken = 0;
		w->parked_next = lp->parked;
		lp->parked = w;
		while (!w->woken && !lp->exit)
			pthread_cond_wait(&w->wake, &lp->lock);
	}
	if (lp->exit)
		return -1;
	lp->readers++;
	return 0;
}

static int is_forget(const struct fuse_buf *b)
{
	const struct kv_in_header *in = b->mem;

	if ((b->flags & FUSE_BUF_IS_FD) || !in || b->size < sizeof(*in))
		return 0;
	return in->opcode == KV_FUSE_FORGET || in->opcode == KV_FUSE_BATCH_FORGET;
}

static void *worker_main(void *arg)
{
	struct kv_worker *w = arg;
	struct kv_loop *lp = w->lp;
	int res;

	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	for (;;) {
		pthread_mutex_lock(&lp->lock);
		res = take_read_turn(lp, w);
		pthread_mutex_unlock(&lp->lock);
		if (res || fuse_session_exited(lp->se))
			break;
		/* cancelled here only, where no lock is held: the exit of a reader */
		pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
		res = fuse_session_receive_buf(lp->se, &w->fbuf);
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
		pthread_mutex_lock(&lp->lock);
		lp->readers--;
		if (res > 0 && lp->readers == 0 && !is_forget(&w->fbuf))
			keep_reading(lp);
		if (res < 0 && res != -EINTR && res != -EAGAIN && !lp->error)
			lp->error = res;
		pthread_mutex_unlock(&lp->lock);
		if (res == -EINTR || res == -EAGAIN)
			continue;
		if (res <= 0) { /* 0: unmounted */
			fuse_session_exit(lp->se);
			break;
		}
		fuse_session_process_buf(lp->se, &w->fbuf);
	}
	sem_post(&lp->finish);
	return NULL;
}

/* The exit: stop the parked, cancel the readers, join everyone. */
static void stop_workers(struct kv_loop *lp)
{
	struct kv_worker *w, *next;

	pthread_mutex_lock(&lp->lock);
	lp->exit = 1;
	for (w = lp->all; w; w = w->all_next) {
		w->woken = 1;
		pthread_cond_signal(&w->wake);
		pthread_cancel(w->tid); /* acted on only inside read() */
	}
	pthread_mutex_unlock(&lp->lock);
	for (w = lp->all; w; w = next) {
		next = w->all_next;
		pthread_join(w->tid, NULL);
		pthread_cond_destroy(&w->wake);
		free(w->fbuf.mem);
		free(w);
	}
	lp->all = NULL;
}

int kv_loop_serve(struct fuse_session *se, unsigned max_workers)
{
	struct kv_loop lp = { .se = se, .max_workers = max_workers ? max_workers : 1 };
	int rc;

	pthread_mutex_init(&lp.lock, NULL);
	sem_init(&lp.finish, 0, 0);
	pthread_mutex_lock(&lp.lock);
	rc = start_worker(&lp);
	pthread_mutex_unlock(&lp.lock);
	if (!rc) {
		/*
		 * a worker that ends posts; a signal's handler only marks the session,
		 * and it may run on a thread of the daemon other than this one
		 */
		while (!fuse_session_exited(se)) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 100 * 1000 * 1000;
			if (ts.tv_nsec >= 1000 * 1000 * 1000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000 * 1000 * 1000;
			}
			sem_timedwait(&lp.finish, &ts);
		}
		stop_workers(&lp);
		rc = lp.error;
	}
	sem_destroy(&lp.finish);
	pthread_mutex_destroy(&lp.lock);
	fuse_session_reset(se);
	return rc;
}
