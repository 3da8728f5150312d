/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alder-secd's sockets and poll loop. Frames are read without blocking (a
 * slow or silent client never stalls the others); a reply is sent with a
 * send timeout and the connection dropped if the client does not take it.
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "alder/fileio.h"
#include "alder/json.h"
#include "alder/log.h"
#include "secd.h"

#define CONFIG_MAX_SIZE (64u * 1024u)

static int listen_unix(const char *path, mode_t mode, alder_error **err)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(path) >= sizeof(sa.sun_path))
                return alder_error_set(err, ENAMETOOLONG, "socket path '%s' is too long", path);
        strcpy(sa.sun_path, path);
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return alder_error_sys(err, errno, "socket");
        if (unlink(path) < 0 && errno != ENOENT)
                return alder_error_sys(err, errno, "remove stale socket '%s'", path);
        /* Bind under a umask that already gives the final mode: no window with a wider one. */
        mode_t old = umask(~mode & 0777);
        int r = bind(fd, (struct sockaddr *) &sa, sizeof(sa));
        umask(old);
        if (r < 0)
                return alder_error_sys(err, errno, "bind '%s'", path);
        if (chmod(path, mode) < 0 || listen(fd, 16) < 0)
                return alder_error_sys(err, errno, "listen on '%s'", path);
        return steal_fd(&fd);
}

/* array, grown if need be to hold n + 1 elements of `size` (capacity *cap, doubled from 4); NULL when out of memory. */
static void *room_for_one(void *array, size_t n, size_t *cap, size_t size)
{
        if (n < *cap)
                return array;
        size_t want = *cap ? 2 * *cap : 4;
        void *p = reallocarray(array, want, size);
        if (p)
                *cap = want;
        return p;
}

static int app_index(const struct secd *d, const char *name)
{
        for (size_t i = 0; i < d->n_apps; i++)
                if (!d->apps[i].removed && strcmp(d->apps[i].name, name) == 0)
                        return (int) i;
        return -1;
}

static int cgroup_file(const struct secd *d, const char *name, char **ret, alder_error **err)
{
        return asprintf(ret, "%s/%s", d->cgroups_dir, name) < 0 ? alder_error_set(err, ENOMEM, "out of memory") : 0;
}

/* A cgroup path as /proc/PID/cgroup shows one: absolute, one line. */
static bool cgroup_valid(const char *cgroup)
{
        return cgroup[0] == '/' && strlen(cgroup) <= SECD_CGROUP_MAX && !strchr(cgroup, '\n');
}

static int set_cgroup(struct secd *d, struct secd_app *a, const char *cgroup, alder_error **err)
{
        if (a->cgroup ? strcmp(a->cgroup, cgroup) == 0 : !*cgroup)
                return 0;
        _cleanup_free_ char *path = NULL, *copy = *cgroup ? strdup(cgroup) : NULL;
        int r = cgroup_file(d, a->name, &path, err);
        if (r < 0)
                return r;
        if (*cgroup && !copy)
                return alder_error_set(err, ENOMEM, "out of memory");
        if (!*cgroup && unlink(path) < 0 && errno != ENOENT)
                return alder_error_sys(err, errno, "remove '%s'", path);
        if (*cgroup && (r = alder_write_file_atomic(path, cgroup, strlen(cgroup), 0600, err)) < 0)
                return r;
        free(a->cgroup);
        a->cgroup = steal_pointer(&copy);
        alder_log(ALDER_LOG_INFO, ALDER_LOG_FIELDS("APP", a->name), "app %s: peers must be in cgroup %s*", a->name,
                  a->cgroup ? a->cgroup : "(any: not checked)");
        return 0;
}

/* Opens the socket of an app secd does not serve yet. */
static int open_app(struct secd *d, const char *name, alder_error **err)
{
        if (d->n_apps == SECD_MAX_APPS)
                return alder_error_set(err, E2BIG, "app %s: secd serves at most %u apps", name, SECD_MAX_APPS);
        struct secd_app *apps = room_for_one(d->apps, d->n_apps, &d->cap_apps, sizeof(*apps));
        if (!apps)
                return alder_error_set(err, ENOMEM, "out of memory");
        d->apps = apps;
        struct secd_app a = {.listen_fd = -1};
        _cleanup_free_ char *dir = NULL;
        if (asprintf(&dir, "%s/apps/%s", d->run_dir, name) < 0 || asprintf(&a.socket_path, "%s/secd.sock", dir) < 0 ||
            !(a.name = strdup(name))) {
                free(a.socket_path);
                return alder_error_set(err, ENOMEM, "out of memory");
        }
        /* The folder is what alder-appd bind-mounts into the app's container: it holds this socket only. */
        int r = alder_mkdir_p(dir, 0755, err);
        if (r >= 0)
                r = a.listen_fd = listen_unix(a.socket_path, 0666, err);
        if (r < 0) {
                free(a.name);
                free(a.socket_path);
                return alder_error_wrap(err, "socket of app %s", name);
        }
        d->apps[d->n_apps++] = a;
        alder_log(ALDER_LOG_INFO, ALDER_LOG_FIELDS("APP", name), "serving app %s on %s", name, a.socket_path);
        return 0;
}

int secd_app_add(struct secd *d, const char *name, const char *cgroup, alder_error **err)
{
        if (cgroup && *cgroup && !cgroup_valid(cgroup))
                return alder_error_set(err, EINVAL, "app %s: cgroup '%s' is not an absolute cgroup path", name, cgroup);
        int i = app_index(d, name);
        if (i < 0) {
                int r = secd_store_add_app(&d->store, name, err);
                if (r < 0 || !d->listening)
                        return r;
                if ((r = open_app(d, name, err)) < 0)
                        return r;
                i = (int) d->n_apps - 1;
        }
        return cgroup ? set_cgroup(d, &d->apps[i], cgroup, err) : 0;
}

int secd_app_remove(struct secd *d, const char *name, bool purge, alder_error **err)
{
        int i = app_index(d, name);
        if (i >= 0) {
                struct secd_app *a = &d->apps[i];
                /* No new connections from now; the slot and the open ones go at the end of the round. */
                a->removed = true;
                alder_closep(&a->listen_fd);
                (void) unlink(a->socket_path);
                _cleanup_free_ char *dir = NULL;
                if (alder_path_parent(a->socket_path, &dir, NULL) == 0)
                        (void) rmdir(dir);
                for (size_t k = 0; k < d->n_conns; k++)
                        if (d->conns[k].app == i)
                                d->conns[k].closing = true;
        }
        if (strcmp(d->cached_app, name) == 0)
                explicit_bzero(d->cached, sizeof(*d->cached));
        /*
         * The keys go before the cgroup prefix: a crash in between must not
         * leave them served without the cross-check (load_cgroups() drops
         * the prefix of an app that has no keys left).
         */
        int r = purge ? secd_store_remove_app(&d->store, name, err) : 0;
        if (r < 0)
                return alder_error_wrap(err, "delete the keys and secrets of app %s", name);
        _cleanup_free_ char *path = NULL;
        r = d->listening ? cgroup_file(d, name, &path, err) : 0;
        if (r < 0)
                return r;
        if (path && unlink(path) < 0 && errno != ENOENT)
                return alder_error_sys(err, errno, "remove '%s'", path);
        alder_log(ALDER_LOG_INFO, ALDER_LOG_FIELDS("APP", name), "app %s removed, its keys and secrets %s", name,
                  purge ? "deleted" : "kept");
        return 0;
}

/*
 * ROOT/config/secd.json: {"backend": "software", "apps": ["a", "b"], "tpm": {"tcti": "..."}}, optional.
 * The whole config stays in *settings for the backend (it reads the object named like it), *config_path
 * names the file.
 */
static int load_config(struct secd *d, const struct secd_config *cfg, const char **backend, json_t **settings,
                       char **config_path, alder_error **err)
{
        _cleanup_free_ char *path = NULL;
        int r = cfg->config ? ((path = strdup(cfg->config)) ? 0 : -ENOMEM)
                            : alder_path_join(d->root, "config/secd.json", &path, err);
        if (r < 0)
                return r == -ENOMEM ? alder_error_set(err, ENOMEM, "out of memory") : r;
        _cleanup_json_ json_t *root = NULL;
        r = alder_json_load_file(path, CONFIG_MAX_SIZE, &root, err);
        if (r == -ENOENT && !cfg->config) {
                alder_error_clear(err);
                return 0;
        }
        static const char *const keys[] = {"backend", "apps", "tpm", "pkcs11", NULL};
        _cleanup_strv_ char **apps = NULL;
        const char *name = NULL;
        if (r >= 0)
                r = alder_json_check_keys(root, path, NULL, keys, err);
        if (r >= 0)
                r = alder_json_get_string(root, path, "backend", ALDER_JSON_OPTIONAL, &name, err);
        if (r >= 0)
                r = alder_json_get_strv(root, path, "apps", ALDER_JSON_OPTIONAL, SECD_MAX_APPS, &apps, err);
        if (r >= 0 && name && !*backend && !(*backend = secd_backend_find(name) ? secd_backend_find(name)->name : NULL))
                r = alder_error_set(err, EINVAL, "%s: field 'backend': unknown backend '%s'", path, name);
        for (char **a = apps; r >= 0 && a && *a; a++)
                r = secd_app_add(d, *a, NULL, err);
        if (r < 0)
                return alder_error_wrap(err, "config");
        *settings = json_incref(root);
        *config_path = steal_pointer(&path);
        return 0;
}

/* Opens the backend, then the device key (which a TPM backend seals). */
static int open_backend(struct secd *d, const char *name, const json_t *settings, const char *config_path,
                        alder_error **err)
{
        d->backend = secd_backend_find(name);
        if (!d->backend)
                return alder_error_set(err, EINVAL, "unknown backend '%s' (known: software, tpm, pkcs11)", name);
        int r = d->backend->init ? d->backend->init(settings, config_path ? config_path : "config", err) : 0;
        if (r < 0)
                return alder_error_wrap(err, "backend %s", name);
        d->backend_open = true;
        r = secd_store_device_key(&d->store, d->backend, err);
        return r < 0 ? alder_error_wrap(err, "open store") : 0;
}

static int add_stored_apps(struct secd *d, alder_error **err)
{
        _cleanup_strv_ char **apps = NULL;
        int r = secd_store_list_apps(&d->store, SECD_MAX_APPS, &apps, err);
        for (char **a = apps; r >= 0 && *a; a++)
                r = secd_app_add(d, *a, NULL, err);
        return r;
}

/*
 * The cgroup prefixes alder-appd registered before secd restarted. A crash
 * may have left temp files of their writes, and the prefix of an app whose
 * purge it cut short after the keys went (secd_app_remove()): both go.
 */
static int load_cgroups(struct secd *d, alder_error **err)
{
        secd_remove_temps(d->cgroups_dir);
        _cleanup_closedir_ DIR *dir = opendir(d->cgroups_dir);
        if (!dir)
                return alder_error_sys(err, errno, "open '%s'", d->cgroups_dir);
        struct dirent *e;
        while ((e = readdir(dir))) {
                _cleanup_free_ char *path = NULL, *cgroup = NULL;
                size_t len;
                if (!secd_app_name_valid(e->d_name))
                        continue; /* ".", ".." */
                int r = cgroup_file(d, e->d_name, &path, err);
                if (r == 0 && !secd_store_has_app(&d->store, e->d_name)) {
                        if (unlink(path) < 0 && errno != ENOENT)
                                return alder_error_sys(err, errno, "remove '%s'", path);
                        alder_log(ALDER_LOG_INFO, ALDER_LOG_FIELDS("APP", e->d_name),
                                  "app %s: dropped the cgroup prefix left by its removal", e->d_name);
                        continue;
                }
                if (r == 0)
                        r = alder_read_file(path, SECD_CGROUP_MAX, &cgroup, &len, err);
                if (r == 0)
                        r = secd_app_add(d, e->d_name, cgroup, err);
                if (r < 0)
                        return alder_error_wrap(err, "cgroup of app %s", e->d_name);
        }
        return 0;
}

static int open_sockets(struct secd *d, alder_error **err)
{
        if (asprintf(&d->admin_path, "%s/admin.sock", d->run_dir) < 0)
                return alder_error_set(err, ENOMEM, "out of memory");
        int r = alder_mkdir_p(d->run_dir, 0755, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *apps = NULL;
        if (asprintf(&apps, "%s/apps", d->run_dir) < 0)
                return alder_error_set(err, ENOMEM, "out of memory");
        r = alder_mkdir_p(apps, 0755, err);
        if (r >= 0)
                r = alder_mkdir_p(d->cgroups_dir, 0700, err);
        if (r >= 0)
                r = d->admin_fd = listen_unix(d->admin_path, 0600, err);
        return r < 0 ? r : 0;
}

int secd_init(struct secd *d, const struct secd_config *cfg, alder_error **err)
{
        *d = (struct secd){.admin_fd = -1, .listening = !cfg->no_sockets};
        const char *root = cfg->root ? cfg->root : "/";
        d->reply = malloc(SECD_WIRE_MAX_FRAME);
        d->scratch = malloc(SECD_WIRE_MAX_DATA);
        d->key = calloc(1, sizeof(*d->key));
        d->cached = calloc(1, sizeof(*d->cached));
        d->root = strdup(root);
        if (!d->reply || !d->scratch || !d->key || !d->cached || !d->root)
                return alder_error_set(err, ENOMEM, "out of memory");
        int r = alder_path_join(root, "run/alder/secd", &d->run_dir, err);
        if (r >= 0)
                r = alder_path_join(d->run_dir, "cgroups", &d->cgroups_dir, err);
        if (r < 0)
                return r;
        r = secd_store_open(&d->store, root, err);
        if (r < 0)
                return alder_error_wrap(err, "open store");
        if (d->listening && (r = open_sockets(d, err)) < 0)
                return r;
        const char *backend = cfg->backend;
        _cleanup_json_ json_t *settings = NULL;
        _cleanup_free_ char *config_path = NULL;
        if ((r = load_config(d, cfg, &backend, &settings, &config_path, err)) < 0)
                return r;
        if ((r = open_backend(d, backend ? backend : "software", settings, config_path, err)) < 0)
                return r;
        for (char **a = cfg->apps; a && *a; a++)
                if ((r = secd_app_add(d, *a, NULL, err)) < 0)
                        return r;
        r = add_stored_apps(d, err);
        return r >= 0 && d->listening ? load_cgroups(d, err) : r;
}

static void drop_conn(struct secd *d, size_t i)
{
        struct secd_conn *c = &d->conns[i];
        close(c->fd);
        secd_session_clear(&c->session);
        explicit_bzero(c->buf, c->have);
        free(c->buf);
        d->conns[i] = d->conns[--d->n_conns];
}

static bool peer_cred(int fd, struct ucred *cred)
{
        socklen_t len = sizeof(*cred);
        return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, &len) == 0;
}

static bool admin_peer_ok(int fd)
{
        struct ucred cred;
        return peer_cred(fd, &cred) && (cred.uid == 0 || cred.uid == geteuid());
}

/*
 * The cgroup cross-check: a peer of an app socket must be in the app's
 * cgroup, when alder-appd told which (defence in depth: the mount of the
 * socket into the app's container alone is the isolation).
 */
static bool app_peer_ok(const struct secd_app *a, int fd)
{
        if (!a->cgroup)
                return true;
        struct ucred cred = {0};
        char cgroup[SECD_CGROUP_MAX + 1];
        int r = peer_cred(fd, &cred) ? secd_peer_cgroup(cred.pid, cgroup, sizeof(cgroup)) : -errno;
        if (r == 0 && secd_cgroup_matches(cgroup, a->cgroup))
                return true;
        char pid[16];
        snprintf(pid, sizeof(pid), "%d", (int) cred.pid);
        if (r == 0)
                alder_log(ALDER_LOG_WARNING, ALDER_LOG_FIELDS("APP", a->name, "PID", pid),
                          "app %s: refusing pid %s: its cgroup %s is not the app's (%s*)", a->name, pid, cgroup,
                          a->cgroup);
        else
                alder_log(ALDER_LOG_WARNING, ALDER_LOG_FIELDS("APP", a->name, "PID", pid),
                          "app %s: refusing pid %s: cannot tell its cgroup: %s", a->name, pid, strerror(-r));
        return false;
}

static size_t conns_of(const struct secd *d, int app)
{
        size_t n = 0;
        for (size_t i = 0; i < d->n_conns; i++)
                n += d->conns[i].app == app;
        return n;
}

static void accept_conn(struct secd *d, int listen_fd, int app)
{
        _cleanup_close_ int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
                return;
        const char *who = app < 0 ? "admin" : d->apps[app].name;
        if (d->n_conns == SECD_MAX_CONNS || (app >= 0 && conns_of(d, app) >= SECD_MAX_CONNS_PER_APP)) {
                alder_log(ALDER_LOG_WARNING, ALDER_LOG_FIELDS("APP", who), "too many connections, refusing one");
                return;
        }
        if (app < 0 && !admin_peer_ok(fd)) {
                alder_log(ALDER_LOG_WARNING, NULL, "admin socket: refusing a peer that is not root");
                return;
        }
        /* A peer refused by the cross-check still gets a reply that says so, to its first request. */
        bool denied = app >= 0 && !app_peer_ok(&d->apps[app], fd);
        struct secd_conn *conns = room_for_one(d->conns, d->n_conns, &d->cap_conns, sizeof(*conns));
        if (!conns)
                return;
        d->conns = conns;
        uint8_t *buf = malloc(SECD_WIRE_MAX_FRAME);
        if (!buf)
                return;
        d->conns[d->n_conns++] = (struct secd_conn){
                .fd = steal_fd(&fd),
                .app = app,
                .denied = denied,
                .buf = buf,
                .session = {.app = app < 0 ? NULL : d->apps[app].name},
        };
}

static int64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds until the first started frame times out, -1 when none has started. */
static int poll_timeout(const struct secd *d)
{
        int64_t first = INT64_MAX;
        for (size_t i = 0; i < d->n_conns; i++)
                if (d->conns[i].have && d->conns[i].frame_deadline_ms < first)
                        first = d->conns[i].frame_deadline_ms;
        if (first == INT64_MAX)
                return -1;
        int64_t left = first - now_ms();
        return left < 0 ? 0 : (int) ALDER_MIN(left, SECD_FRAME_TIMEOUT_MS);
}

/* Sends all of the reply within SECD_SEND_TIMEOUT_MS; false when the client does not take it. */
static bool send_reply(int fd, const uint8_t *p, size_t len)
{
        while (len) {
                ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0 && errno == EAGAIN) {
                        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
                        if (poll(&pfd, 1, SECD_SEND_TIMEOUT_MS) <= 0)
                                return false;
                        continue;
                }
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return false;
                p += n;
                len -= (size_t) n;
        }
        return true;
}

/* The frame size once its header is in; 0 before. A bad header still yields the header alone. */
static size_t frame_size(const struct secd_conn *c, bool *bad)
{
        struct secd_header h;
        if (c->have < SECD_WIRE_HEADER_SIZE)
                return 0;
        *bad = secd_header_decode(c->buf, SECD_WIRE_HEADER_SIZE, &h) != PSA_SUCCESS;
        return *bad ? SECD_WIRE_HEADER_SIZE : SECD_WIRE_HEADER_SIZE + h.body_len;
}

/* The reply to a peer the cross-check refused: PSA_ERROR_NOT_PERMITTED, whatever it asked. */
static size_t secd_refuse(struct secd *d, const uint8_t *frame)
{
        struct secd_writer w;
        secd_writer_start(&w, d->reply, SECD_WIRE_MAX_FRAME, (uint16_t) (frame[6] | frame[7] << 8),
                          PSA_ERROR_NOT_PERMITTED);
        return secd_writer_finish(&w);
}

/* Reads what is there; answers a complete frame. False when the connection is to be dropped. */
static bool serve_conn(struct secd *d, struct secd_conn *c)
{
        bool bad = false;
        size_t want = frame_size(c, &bad);
        size_t room = want ? want - c->have : SECD_WIRE_HEADER_SIZE - c->have;
        ssize_t n = recv(c->fd, c->buf + c->have, room, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return true;
        if (n <= 0)
                return false;
        if (c->have == 0)
                c->frame_deadline_ms = now_ms() + SECD_FRAME_TIMEOUT_MS;
        c->have += (size_t) n;
        want = frame_size(c, &bad);
        if (want == 0 || c->have < want)
                return true;
        size_t len = c->denied ? secd_refuse(d, c->buf) : secd_handle(d, &c->session, c->buf, want);
        explicit_bzero(c->buf, c->have);
        c->have = 0;
        uint8_t *reply = d->reply; /* set by secd_init(); the check keeps GCC's -Wnonnull quiet under ASan */
        bool sent = reply && send_reply(c->fd, reply, len);
        if (reply)
                explicit_bzero(reply, len);
        /* After a bad header the stream cannot be resynchronized: answer, then close. */
        return sent && !bad && !c->denied;
}

static void free_app(struct secd_app *a)
{
        if (a->listen_fd >= 0) {
                close(a->listen_fd);
                unlink(a->socket_path);
        }
        free(a->name);
        free(a->socket_path);
        free(a->cgroup);
}

/* Drops what app_remove marked, once the round no longer refers to it by index. */
static void compact(struct secd *d)
{
        for (size_t i = d->n_conns; i-- > 0;)
                if (d->conns[i].closing)
                        drop_conn(d, i);
        for (size_t i = d->n_apps; i-- > 0;) {
                if (!d->apps[i].removed)
                        continue;
                free_app(&d->apps[i]);
                d->apps[i] = d->apps[--d->n_apps];
                for (size_t k = 0; k < d->n_conns; k++)
                        if (d->conns[k].app == (int) d->n_apps)
                                d->conns[k].app = (int) i;
        }
}

int secd_run(struct secd *d, volatile sig_atomic_t *stop, alder_error **err)
{
        struct pollfd pfds[1 + SECD_MAX_APPS + SECD_MAX_CONNS];
        while (!*stop) {
                size_t n = 0;
                pfds[n++] = (struct pollfd){.fd = d->admin_fd, .events = POLLIN};
                for (size_t i = 0; i < d->n_apps; i++)
                        pfds[n++] = (struct pollfd){.fd = d->apps[i].listen_fd, .events = POLLIN};
                size_t n_listen = n, n_apps = d->n_apps, n_conns = d->n_conns;
                for (size_t i = 0; i < n_conns; i++)
                        pfds[n++] = (struct pollfd){.fd = d->conns[i].fd, .events = POLLIN};
                if (poll(pfds, n, poll_timeout(d)) < 0) {
                        if (errno == EINTR)
                                continue;
                        return alder_error_sys(err, errno, "poll");
                }
                /* Connections first, backwards: dropping one moves the last into its place. */
                int64_t now = now_ms();
                for (size_t i = n_conns; i-- > 0;) {
                        struct secd_conn *c = &d->conns[i];
                        bool stalled = !pfds[n_listen + i].revents && c->have && now >= c->frame_deadline_ms;
                        if (stalled || (pfds[n_listen + i].revents && !serve_conn(d, c)))
                                drop_conn(d, i);
                }
                if (pfds[0].revents & POLLIN)
                        accept_conn(d, d->admin_fd, -1);
                for (size_t i = 0; i < n_apps; i++)
                        if ((pfds[1 + i].revents & POLLIN) && !d->apps[i].removed)
                                accept_conn(d, d->apps[i].listen_fd, (int) i);
                compact(d);
        }
        return 0;
}

void secd_done(struct secd *d)
{
        while (d->n_conns)
                drop_conn(d, d->n_conns - 1);
        for (size_t i = 0; i < d->n_apps; i++)
                free_app(&d->apps[i]);
        d->n_apps = 0;
        if (d->admin_fd >= 0) {
                close(d->admin_fd);
                unlink(d->admin_path);
        }
        free(d->apps);
        free(d->conns);
        secd_store_close(&d->store);
        if (d->backend_open && d->backend->done)
                d->backend->done();
        free(d->admin_path);
        free(d->run_dir);
        free(d->cgroups_dir);
        free(d->root);
        free(d->reply);
        free(d->scratch);
        if (d->key)
                explicit_bzero(d->key, sizeof(*d->key));
        free(d->key);
        if (d->cached)
                explicit_bzero(d->cached, sizeof(*d->cached));
        free(d->cached);
        *d = (struct secd){.admin_fd = -1};
}
