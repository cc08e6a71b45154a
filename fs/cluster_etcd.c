// SPDX-License-Identifier: MIT
/*
 * cluster_etcd.c - a small etcd v3 client over the JSON gateway (POST
 * /v3/<service>/<call>, keys and values base64, 64-bit numbers as strings),
 * with libcurl and json-c. It does no retries of its own beyond trying the
 * next endpoint: the caller (fs/cluster.c) decides what a failure means.
 * Must not keep any state etcd owns: every answer is read anew.
 */
#include "cluster_etcd.h"
#include "log.h"

#include <curl/curl.h>
#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KV_ETCD_MAX_EP	  8
#define KV_ETCD_REPLY_MAX (1u << 20)

struct kv_etcd {
	pthread_mutex_t lock;
	CURL *curl;
	long timeout_ms;
	int nep, cur;
	char ep[KV_ETCD_MAX_EP][128];
};

struct reply {
	char *buf;
	size_t len;
};

/* --- base64 --- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64_encode(const char *s, size_t n)
{
	char *out = malloc(4 * ((n + 2) / 3) + 1), *o = out;
	size_t i;

	if (!out)
		return NULL;
	for (i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)(uint8_t)s[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)(uint8_t)s[i + 1] << 8;
		if (i + 2 < n)
			v |= (uint8_t)s[i + 2];
		*o++ = b64[v >> 18];
		*o++ = b64[(v >> 12) & 63];
		*o++ = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		*o++ = i + 2 < n ? b64[v & 63] : '=';
	}
	*o = 0;
	return out;
}

static size_t b64_decode(const char *s, char *out, size_t size)
{
	uint32_t v = 0;
	size_t n = 0;
	int bits = 0;

	for (; *s && *s != '='; s++) {
		const char *c = strchr(b64, *s);

		if (!c)
			continue;
		v = (v << 6) | (uint32_t)(c - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n + 1 < size)
				out[n++] = (char)((v >> bits) & 0xff);
		}
	}
	if (size)
		out[n] = 0;
	return n;
}

/* --- transport --- */

static size_t on_data(char *ptr, size_t sz, size_t nm, void *arg)
{
	struct reply *r = arg;
	size_t n = sz * nm;
	char *b;

	if (r->len + n > KV_ETCD_REPLY_MAX)
		return 0;
	b = realloc(r->buf, r->len + n + 1);
	if (!b)
		return 0;
	memcpy(b + r->len, ptr, n);
	r->len += n;
	b[r->len] = 0;
	r->buf = b;
	return n;
}

int kv_etcd_new(const char *endpoints, long timeout_ms, struct kv_etcd **out)
{
	struct kv_etcd *e = calloc(1, sizeof(*e));
	char *copy = strdup(endpoints), *save = NULL, *tok;
	int rc = -EINVAL;

	if (!e || !copy) {
		rc = -ENOMEM;
		goto out;
	}
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (e->nep == KV_ETCD_MAX_EP || !*tok || strlen(tok) >= sizeof(e->ep[0]) ||
		    strspn(tok,
			   "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") !=
			strlen(tok))
			goto out;
		snprintf(e->ep[e->nep++], sizeof(e->ep[0]), "%s", tok);
	}
	if (!e->nep)
		goto out;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	e->curl = curl_easy_init();
	if (!e->curl) {
		rc = -ENOMEM;
		goto out;
	}
	pthread_mutex_init(&e->lock, NULL);
	e->timeout_ms = timeout_ms;
	*out = e;
	e = NULL;
	rc = 0;
out:
	free(copy);
	free(e);
	return rc;
}

void kv_etcd_free(struct kv_etcd *e)
{
	if (!e)
		return;
	curl_easy_cleanup(e->curl);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

/* POST @body to /v3/@call on the first member that answers; its JSON reply in @out. */
static int call(struct kv_etcd *e, const char *path, json_object *body, json_object **out)
{
	const char *text = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN);
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
	int rc = -EHOSTUNREACH, i;

	pthread_mutex_lock(&e->lock);
	for (i = 0; i < e->nep && rc == -EHOSTUNREACH; i++) {
		int ep = (e->cur + i) % e->nep;
		struct reply r = { NULL, 0 };
		char url[256];
		long code = 0;

		snprintf(url, sizeof(url), "http://%s/v3/%s", e->ep[ep], path);
		curl_easy_reset(e->curl);
		curl_easy_setopt(e->curl, CURLOPT_URL, url);
		curl_easy_setopt(e->curl, CURLOPT_HTTPHEADER, hdr);
		curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, text);
		curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, on_data);
		curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, &r);
		curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS, e->timeout_ms);
		curl_easy_setopt(e->curl, CURLOPT_CONNECTTIMEOUT_MS, e->timeout_ms);
		curl_easy_setopt(e->curl, CURLOPT_NOSIGNAL, 1L);
		if (curl_easy_perform(e->curl) == CURLE_OK &&
		    curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK) {
			*out = r.buf ? json_tokener_parse(r.buf) : NULL;
			rc = code == 200 && *out ? 0 : -EPROTO;
			if (rc && *out) {
				json_object_put(*out);
				*out = NULL;
			}
			if (rc)
				kv_log(KV_LOG_DEBUG, "etcd %s: HTTP %ld: %.200s", url, code,
				       r.buf ? r.buf : "");
			e->cur = ep;
		}
		free(r.buf);
	}
	pthread_mutex_unlock(&e->lock);
	curl_slist_free_all(hdr);
	return rc;
}

static void add_str(json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

static void add_b64(json_object *o, const char *k, const char *v, size_t n)
{
	char *s = b64_encode(v, n);

	json_object_object_add(o, k, json_object_new_string(s ? s : ""));
	free(s);
}

static void add_i64(json_object *o, const char *k, int64_t v)
{
	char s[32];

	snprintf(s, sizeof(s), "%lld", (long long)v);
	add_str(o, k, s);
}

/* A 64-bit field the gateway writes as a string (absent: 0, proto3's default). */
static int64_t get_i64(json_object *o, const char *k)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, k, &v))
		return 0;
	if (json_object_is_type(v, json_type_string))
		return strtoll(json_object_get_string(v), NULL, 10);
	return json_object_get_int64(v);
}

static json_object *get_obj(json_object *o, const char *k)
{
	json_object *v = NULL;

	return o && json_object_object_get_ex(o, k, &v) ? v : NULL;
}

/* --- calls --- */

int kv_etcd_grant(struct kv_etcd *e, long ttl, int64_t *lease)
{
	json_object *req = json_object_new_object(), *rep = NULL;
	int rc;

	add_i64(req, "TTL", ttl);
	rc = call(e, "lease/grant", req, &rep);
	if (!rc) {
		*lease = get_i64(rep, "ID");
		rc = *lease ? 0 : -EPROTO;
	}
	json_object_put(req);
	json_object_put(rep);
	return rc;
}

int kv_etcd_keepalive(struct kv_etcd *e, int64_t lease, long *ttl)
{
	json_object *req = json_object_new_object(), *rep = NULL;
	int rc;

	add_i64(req, "ID", lease);
	rc = call(e, "lease/keepalive", req, &rep);
	if (!rc) {
		json_object *res = get_obj(rep, "result");

		*ttl = (long)get_i64(res ? res : rep, "TTL");
		rc = *ttl > 0 ? 0 : -ENOENT;
	}
	json_object_put(req);
	json_object_put(rep);
	return rc;
}

int kv_etcd_revoke(struct kv_etcd *e, int64_t lease)
{
	json_object *req = json_object_new_object(), *rep = NULL;
	int rc;

	add_i64(req, "ID", lease);
	rc = call(e, "lease/revoke", req, &rep);
	json_object_put(req);
	json_object_put(rep);
	return rc;
}

int kv_etcd_put(struct kv_etcd *e, const char *key, const char *val, int64_t lease)
{
	json_object *req = json_object_new_object(), *rep = NULL;
	int rc;

	add_b64(req, "key", key, strlen(key));
	add_b64(req, "value", val, strlen(val));
	if (lease)
		add_i64(req, "lease", lease);
	rc = call(e, "kv/put", req, &rep);
	json_object_put(req);
	json_object_put(rep);
	return rc;
}

int kv_etcd_create(struct kv_etcd *e, const char *key, const char *val, int64_t lease, int64_t *rev)
{
	json_object *req = json_object_new_object(), *rep = NULL, *cmp = json_object_new_object();
	json_object *put = json_object_new_object(), *op = json_object_new_object();
	json_object *cmps = json_object_new_array(), *ops = json_object_new_array(), *ok;
	int rc;

	add_b64(cmp, "key", key, strlen(key));
	add_str(cmp, "result", "EQUAL");
	add_str(cmp, "target", "CREATE");
	add_str(cmp, "create_revision", "0");
	json_object_array_add(cmps, cmp);
	add_b64(put, "key", key, strlen(key));
	add_b64(put, "value", val, strlen(val));
	if (lease)
		add_i64(put, "lease", lease);
	json_object_object_add(op, "request_put", put);
	json_object_array_add(ops, op);
	json_object_object_add(req, "compare", cmps);
	json_object_object_add(req, "success", ops);
	rc = call(e, "kv/txn", req, &rep);
	if (!rc) {
		ok = get_obj(rep, "succeeded");
		if (ok && json_object_get_boolean(ok))
			*rev = get_i64(get_obj(rep, "header"), "revision");
		else
			rc = -EEXIST;
	}
	json_object_put(req);
	json_object_put(rep);
	return rc;
}

/* A range read of @key (up to @end when not NULL). */
static int range(struct kv_etcd *e, const char *key, const char *end, bool count_only,
		 json_object **rep)
{
	json_object *req = json_object_new_object();
	int rc;

	add_b64(req, "key", key, strlen(key));
	if (end)
		add_b64(req, "range_end", end, strlen(end));
	if (count_only)
		json_object_object_add(req, "count_only", json_object_new_boolean(1));
	rc = call(e, "kv/range", req, rep);
	json_object_put(req);
	return rc;
}

int kv_etcd_get(struct kv_etcd *e, const char *key, char *val, size_t size, int64_t *rev,
		int64_t *lease)
{
	json_object *rep = NULL, *kvs, *kv, *v;
	int rc = range(e, key, NULL, false, &rep);

	if (rc)
		return rc;
	kvs = get_obj(rep, "kvs");
	if (!kvs || json_object_array_length(kvs) < 1) {
		rc = -ENOENT;
	} else {
		kv = json_object_array_get_idx(kvs, 0);
		v = get_obj(kv, "value");
		b64_decode(v ? json_object_get_string(v) : "", val, size);
		*rev = get_i64(kv, "create_revision");
		*lease = get_i64(kv, "lease");
	}
	json_object_put(rep);
	return rc;
}

/* The key just past every key that starts with @prefix. */
static void prefix_end(const char *prefix, char *end, size_t size)
{
	size_t n = snprintf(end, size, "%s", prefix);

	if (n && n < size)
		end[n - 1]++;
}

int kv_etcd_count(struct kv_etcd *e, const char *prefix, int64_t *n)
{
	json_object *rep = NULL;
	char end[512];
	int rc;

	prefix_end(prefix, end, sizeof(end));
	rc = range(e, prefix, end, true, &rep);
	if (!rc)
		*n = get_i64(rep, "count");
	json_object_put(rep);
	return rc;
}

int kv_etcd_list(struct kv_etcd *e, const char *prefix, char *buf, size_t size)
{
	json_object *rep = NULL, *kvs;
	char end[512], key[512];
	size_t used = 0, i, n;
	int rc;

	prefix_end(prefix, end, sizeof(end));
	rc = range(e, prefix, end, false, &rep);
	if (rc)
		return rc;
	if (size)
		buf[0] = 0;
	kvs = get_obj(rep, "kvs");
	n = kvs ? json_object_array_length(kvs) : 0;
	for (i = 0; i < n; i++) {
		json_object *k = get_obj(json_object_array_get_idx(kvs, i), "key");
		const char *last;

		b64_decode(k ? json_object_get_string(k) : "", key, sizeof(key));
		last = strrchr(key, '/');
		last = last ? last + 1 : key;
		if (used + strlen(last) + 2 <= size)
			used += (size_t)snprintf(buf + used, size - used, "%s\n", last);
	}
	json_object_put(rep);
	return (int)n;
}

int kv_etcd_delete(struct kv_etcd *e, const char *key)
{
	json_object *req = json_object_new_object(), *rep = NULL;
	int rc;

	add_b64(req, "key", key, strlen(key));
	rc = call(e, "kv/deleterange", req, &rep);
	json_object_put(req);
	json_object_put(rep);
	return rc;
}
