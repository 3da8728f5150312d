/* SPDX-License-Identifier: Apache-2.0 */
/*
 * IPC: frame decoder and message parsers as pure functions, then server and
 * client over real sockets in a temporary directory (the server runs in a
 * thread; raw sockets play the misbehaving clients).
 *
 * Link-time wraps (tests/unit/meson.build): send/recv to force partial I/O and
 * EINTR, accept4/getsockopt to fail on demand.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "alder-test.h"

#include "alder/ipc.h"

/* ---- Wraps ------------------------------------------------------------------ */

static atomic_size_t io_chunk;   /* not 0: send/recv move at most this many bytes per call */
static atomic_uint recv_calls;   /* with io_chunk: every other recv fails with EINTR */
static atomic_int accept_fail;   /* not 0: the next accept4 fails with this errno */
static atomic_int peercred_fail; /* not 0: the next SO_PEERCRED fails with this errno */
static atomic_size_t dump_size;  /* not 0: json_dumpb() claims this size for the next message */

ssize_t __real_send(int fd, const void *buf, size_t len, int flags);
ssize_t __wrap_send(int fd, const void *buf, size_t len, int flags);
ssize_t __real_recv(int fd, void *buf, size_t len, int flags);
ssize_t __wrap_recv(int fd, void *buf, size_t len, int flags);
int __real_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
int __wrap_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
size_t __real_json_dumpb(const json_t *json, char *buf, size_t size, size_t flags);
size_t __wrap_json_dumpb(const json_t *json, char *buf, size_t size, size_t flags);
int __real_getsockopt(int fd, int level, int name, void *val, socklen_t *len);
int __wrap_getsockopt(int fd, int level, int name, void *val, socklen_t *len);

ssize_t __wrap_send(int fd, const void *buf, size_t len, int flags)
{
        size_t chunk = atomic_load(&io_chunk);
        return __real_send(fd, buf, chunk && len > chunk ? chunk : len, flags);
}

ssize_t __wrap_recv(int fd, void *buf, size_t len, int flags)
{
        size_t chunk = atomic_load(&io_chunk);
        if (chunk && atomic_fetch_add(&recv_calls, 1) % 2 == 0) {
                errno = EINTR;
                return -1;
        }
        return __real_recv(fd, buf, chunk && len > chunk ? chunk : len, flags);
}

int __wrap_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
        int e = atomic_exchange(&accept_fail, 0);
        if (e) {
                errno = e;
                return -1;
        }
        return __real_accept4(fd, addr, len, flags);
}

/* A message too large to build for real (4 GiB): only its size is faked, nothing is written. */
size_t __wrap_json_dumpb(const json_t *json, char *buf, size_t size, size_t flags)
{
        size_t fake = atomic_exchange(&dump_size, 0);
        return fake ? fake : __real_json_dumpb(json, buf, size, flags);
}

int __wrap_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
        int e = name == SO_PEERCRED ? atomic_exchange(&peercred_fail, 0) : 0;
        if (e) {
                errno = e;
                return -1;
        }
        return __real_getsockopt(fd, level, name, val, len);
}

/* ---- Helpers ---------------------------------------------------------------- */

#define MAX_SMALL 4096u /* max message size of the servers that test limits */

static uint64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

/* A frame with `body` after a big-endian length header. */
static size_t make_frame(uint8_t *out, size_t cap, const char *body)
{
        size_t n = strlen(body);
        assert_true(n + 4 <= cap);
        out[0] = (uint8_t) (n >> 24);
        out[1] = (uint8_t) (n >> 16);
        out[2] = (uint8_t) (n >> 8);
        out[3] = (uint8_t) n;
        memcpy(out + 4, body, n);
        return n + 4;
}

/* ---- Frames ----------------------------------------------------------------- */

static void test_frame_complete(void **state)
{
        uint8_t buf[64];
        size_t n = make_frame(buf, sizeof(buf), "{\"id\":1}");
        alder_ipc_frame f;
        assert_int_equal(alder_ipc_frame_decode(buf, n, 1024, &f, NULL), ALDER_IPC_FRAME_COMPLETE);
        assert_int_equal(f.body_len, 8);
        assert_int_equal(f.consumed, 12);
        assert_memory_equal(f.body, "{\"id\":1}", 8);
}

static void test_frame_byte_by_byte(void **state)
{
        uint8_t buf[64];
        size_t n = make_frame(buf, sizeof(buf), "{\"a\":true}");
        alder_ipc_frame f;
        for (size_t i = 0; i < n; i++)
                assert_int_equal(alder_ipc_frame_decode(buf, i, 1024, &f, NULL), ALDER_IPC_FRAME_NEED_MORE);
        assert_int_equal(alder_ipc_frame_decode(buf, n, 1024, &f, NULL), ALDER_IPC_FRAME_COMPLETE);
        assert_int_equal(f.consumed, n);
}

static void test_frame_two_in_one_buffer(void **state)
{
        uint8_t buf[64];
        size_t n1 = make_frame(buf, sizeof(buf), "{}");
        size_t n2 = make_frame(buf + n1, sizeof(buf) - n1, "{\"x\":2}");
        alder_ipc_frame f;
        assert_int_equal(alder_ipc_frame_decode(buf, n1 + n2, 1024, &f, NULL), ALDER_IPC_FRAME_COMPLETE);
        assert_int_equal(f.consumed, n1);
        assert_memory_equal(f.body, "{}", 2);
        assert_int_equal(alder_ipc_frame_decode(buf + n1, n2, 1024, &f, NULL), ALDER_IPC_FRAME_COMPLETE);
        assert_memory_equal(f.body, "{\"x\":2}", 7);
}

static void test_frame_truncated_needs_more(void **state)
{
        uint8_t buf[64];
        size_t n = make_frame(buf, sizeof(buf), "{\"id\":1}");
        alder_ipc_frame f = {0};
        assert_int_equal(alder_ipc_frame_decode(buf, n - 1, 1024, &f, NULL), ALDER_IPC_FRAME_NEED_MORE);
        assert_int_equal(alder_ipc_frame_decode(buf, 0, 1024, &f, NULL), ALDER_IPC_FRAME_NEED_MORE);
        assert_null(f.body); /* untouched */
}

static void test_frame_zero_length(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        static const uint8_t buf[] = {0, 0, 0, 0, '{', '}'};
        alder_ipc_frame f;
        assert_alder_error(alder_ipc_frame_decode(buf, sizeof(buf), 1024, &f, &err), EBADMSG,
                           "frame: length 0 is not allowed (a message is a JSON object)");
}

static void test_frame_oversized_refused_from_header(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        static const uint8_t buf[] = {0x00, 0x10, 0x00, 0x01}; /* 1 MiB + 1, no body yet */
        alder_ipc_frame f;
        assert_alder_error(alder_ipc_frame_decode(buf, sizeof(buf), ALDER_IPC_DEFAULT_MAX_MESSAGE, &f, &err), EMSGSIZE,
                           "frame: length 1048577 exceeds the maximum message size of 1048576 bytes");
        static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff};
        assert_int_equal(alder_ipc_frame_decode(huge, sizeof(huge), ALDER_IPC_DEFAULT_MAX_MESSAGE, &f, NULL),
                         -EMSGSIZE);
}

static void test_frame_encode_roundtrip_and_limit(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_json_ json_t *msg = alder_test_json("{\"id\": 3, \"method\": \"x\"}");
        _cleanup_free_ uint8_t *frame = NULL;
        size_t len;
        assert_int_equal(alder_ipc_frame_encode(msg, 1024, &frame, &len, &err), 0);
        alder_ipc_frame f;
        assert_int_equal(alder_ipc_frame_decode(frame, len, 1024, &f, NULL), ALDER_IPC_FRAME_COMPLETE);
        assert_int_equal(f.consumed, len);
        assert_memory_equal(f.body, "{\"id\":3,\"method\":\"x\"}", f.body_len);

        assert_alder_error(alder_ipc_frame_encode(msg, 10, &frame, &len, &err), EMSGSIZE,
                           "message of 21 bytes exceeds the maximum message size of 10 bytes");
}

/* The length header has 32 bits: "no limit" must not let a larger body wrap it. */
static void test_frame_encode_limit_is_the_header(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_json_ json_t *msg = alder_test_json("{\"id\": 1}");
        uint8_t *frame = NULL;
        size_t len = 0;
        atomic_store(&dump_size, (size_t) UINT32_MAX + 1);
        assert_alder_error(alder_ipc_frame_encode(msg, SIZE_MAX, &frame, &len, &err), EMSGSIZE,
                           "message of 4294967296 bytes exceeds the maximum message size of 4294967295 bytes");
        assert_null(frame);
}

/* ---- Requests and replies --------------------------------------------------- */

static int parse_request(const char *body, alder_ipc_request *req, alder_error **err)
{
        return alder_ipc_request_parse(body, strlen(body), req, err);
}

static void test_request_valid(void **state)
{
        _cleanup_ipc_request_ alder_ipc_request req = {0};
        assert_int_equal(
                parse_request("{\"id\": 9, \"method\": \"app.start\", \"params\": {\"name\": \"x\"}}", &req, NULL), 0);
        assert_int_equal(req.id, 9);
        assert_string_equal(req.method, "app.start");
        assert_string_equal(json_string_value(json_object_get(req.params, "name")), "x");

        _cleanup_ipc_request_ alder_ipc_request bare = {0};
        assert_int_equal(parse_request("{\"id\": 0, \"method\": \"m\"}", &bare, NULL), 0);
        assert_true(json_is_object(bare.params)); /* handlers always get an object */
        assert_int_equal(json_object_size(bare.params), 0);
}

static int parse_reply(const char *body, alder_ipc_reply *reply, alder_error **err)
{
        return alder_ipc_reply_parse(body, strlen(body), reply, err);
}

static void test_reply_result_and_error(void **state)
{
        _cleanup_ipc_reply_ alder_ipc_reply ok = {0};
        assert_int_equal(parse_reply("{\"id\": 4, \"result\": [1]}", &ok, NULL), 0);
        assert_true(ok.has_id);
        assert_int_equal(ok.id, 4);
        assert_true(json_is_array(ok.result));
        assert_null(ok.error);

        _cleanup_ipc_reply_ alder_ipc_reply null_result = {0};
        assert_int_equal(parse_reply("{\"id\": 4, \"result\": null}", &null_result, NULL), 0);
        assert_true(json_is_null(null_result.result));

        _cleanup_ipc_reply_ alder_ipc_reply failed = {0};
        assert_int_equal(parse_reply("{\"id\": null, \"error\": {\"code\": -2, \"errno_name\": \"ENOENT\", "
                                     "\"message\": \"alder-appd: app 'x' not installed\"}}",
                                     &failed, NULL),
                         0);
        assert_false(failed.has_id);
        assert_null(failed.result);
        assert_int_equal(alder_error_errno(failed.error), ENOENT);
        assert_string_equal(alder_error_message(failed.error), "alder-appd: app 'x' not installed");
}

/*
 * Bodies a receiver must refuse, with the exact message its peer or log gets.
 * The message starts with what the body was parsed as: "request" or "reply".
 */
static const struct refusal {
        const char *body;
        int errnum;
        const char *message;
} refusals[] = {
        /* not JSON, or JSON but not an object */
        {"{\"id\": 1,", EBADMSG, "request:1:9: string or '}' expected near end of file"},
        {"{\"id\": 1, \"id\": 2, \"method\": \"m\"}", EBADMSG, "request:1:14: duplicate object key near '\"id\"'"},
        {"\xff", EBADMSG, "request:1:0: unable to decode byte 0xff"},
        {"[1, 2]", EBADMSG, "request: expected object, got array"},
        {"\"hi\"", EBADMSG, "request:1:4: '[' or '{' expected near '\"hi\"'"},
        /* request fields */
        {"{\"id\": 1, \"method\": 7}", EINVAL, "request: field 'method': expected string, got integer"},
        {"{\"id\": 1}", ENOENT, "request: field 'method': missing"},
        {"{\"method\": \"m\"}", ENOENT, "request: field 'id': missing"},
        {"{\"id\": \"1\", \"method\": \"m\"}", EINVAL, "request: field 'id': expected integer, got string"},
        {"{\"id\": -1, \"method\": \"m\"}", ERANGE, "request: field 'id': -1 is out of range [0, 9223372036854775807]"},
        {"{\"id\":1,\"method\":\"m\",\"params\":[]}", EINVAL, "request: field 'params': expected object, got array"},
        {"{\"id\": 1, \"method\": \"m\", \"parms\": {}}", EINVAL, "request: field 'parms': unknown field"},
        {"{\"id\": 1, \"method\": \"a\\u0000b\"}", EINVAL, "request: field 'method': string contains a NUL character"},
        /* reply fields */
        {"{\"id\": 1}", EBADMSG, "reply: expected exactly one of 'result' and 'error'"},
        {"{\"id\": 1, \"result\": 1, \"error\": {}}", EBADMSG, "reply: expected exactly one of 'result' and 'error'"},
        {"{\"id\": null, \"result\": 1}", EBADMSG, "reply: field 'id': null is only allowed in an error reply"},
        {"{\"result\": 1}", ENOENT, "reply: field 'id': missing"},
        {"{\"id\": 1, \"error\": {\"code\": 5}}", ERANGE, "reply: field 'error.code': 5 is out of range [-4095, -1]"},
        {"{\"id\": 1, \"error\": {\"code\": -5}}", ENOENT, "reply: field 'error.message': missing"},
        {"{\"id\":1,\"error\":{\"code\":-5,\"message\":\"m\",\"x\":1}}", EINVAL,
         "reply: field 'error.x': unknown field"},
};

/* Parses body as a reply or a request; *ret_touched tells whether the output was written despite a failure. */
static int parse_refused(bool as_reply, const char *body, bool *ret_touched, alder_error **err)
{
        int r;
        if (as_reply) {
                alder_ipc_reply reply = {0};
                r = parse_reply(body, &reply, err);
                *ret_touched = reply.result || reply.error;
                alder_ipc_reply_clear(&reply);
        } else {
                alder_ipc_request req = {0};
                r = parse_request(body, &req, err);
                *ret_touched = req.root;
                alder_ipc_request_clear(&req);
        }
        return r;
}

static void test_invalid_messages_refused(void **state)
{
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(refusals); i++) {
                const struct refusal *c = &refusals[i];
                char name[128];
                alder_test_case_name(name, i, "%s", c->body);
                _cleanup_error_ alder_error *err = NULL;
                bool touched;
                int r = parse_refused(strncmp(c->message, "reply", 5) == 0, c->body, &touched, &err);
                alder_test_check_error(name, r, err, c->errnum, c->message);
                if (touched)
                        fail_msg("%s: output set on failure", name);
        }
}

/* ---- Test server -------------------------------------------------------------- */

struct fixture {
        char dir[64];
        char path[96];
        alder_ipc_server *srv;
        pthread_t thread;
        bool running;
        alder_ipc_call *held; /* a call deferred by "defer", touched only by the server thread */
};

static struct fixture fx;

static int m_echo(alder_ipc_call *call, json_t *params, json_t **ret, alder_error **err)
{
        *ret = json_incref(params);
        return 0;
}

static int m_peer(alder_ipc_call *call, json_t *params, json_t **ret, alder_error **err)
{
        const alder_ipc_peer *p = alder_ipc_call_peer(call);
        *ret = json_pack("{s:i, s:i, s:i}", "pid", (int) p->pid, "uid", (int) p->uid, "gid", (int) p->gid);
        return 0;
}

static int m_fail(alder_ipc_call *call, json_t *params, json_t **ret, alder_error **err)
{
        const char *name = json_string_value(json_object_get(params, "name"));
        return alder_error_set(err, ENOENT, "app '%s' not installed", name ? name : "?");
}

static int m_bare_failure(alder_ipc_call *call, json_t *params, json_t **ret, alder_error **err)
{
        return -EIO; /* no message: the server makes one */
}

/* Returns a string of params.size bytes, to produce replies above the limit. */
/* An error message that is not UTF-8 cannot go into JSON: the errno must still reach the client. */
static int m_bad_utf8(alder_ipc_call *call, json_t *params, json_t **ret, alder_error **err)
{
        return alder_error_set(err, EILSEQ, "file name '\xff'");
}

static int m_big(alder_ipc_call *call, json_t *params, json_t **ret, alder_error **err)
{
        size_t n = (size_t) json_integer_value(json_object_get(params, "size"));
        _cleanup_free_ char *s = malloc(n + 1);
        assert_non_null(s);
        memset(s, 'a', n);
        s[n] = '\0';
        *ret = json_string(s);
        return 0;
}

static int m_defer(alder_ipc_call *call, json_t *params, json_t **ret, alder_error **err)
{
        struct fixture *f = alder_ipc_call_userdata(call);
        if (f->held)
                return alder_error_set(err, EBUSY, "a call is already held");
        f->held = call;
        return ALDER_IPC_REPLY_LATER;
}

/* Answers the held call with our params, from another connection. */
static int m_release(alder_ipc_call *call, json_t *params, json_t **ret, alder_error **err)
{
        struct fixture *f = alder_ipc_call_userdata(call);
        if (!f->held)
                return alder_error_set(err, EAGAIN, "nothing held");
        alder_ipc_call_reply(steal_pointer(&f->held), json_incref(params));
        return 0;
}

/* Replies from inside the handler, then says "later": the server must not answer twice. */
static int m_early(alder_ipc_call *call, json_t *params, json_t **ret, alder_error **err)
{
        alder_ipc_call_reply(call, json_string("early"));
        return ALDER_IPC_REPLY_LATER;
}

static int m_connections(alder_ipc_call *call, json_t *params, json_t **ret, alder_error **err)
{
        struct fixture *f = alder_ipc_call_userdata(call);
        *ret = json_integer(alder_ipc_server_connections(f->srv));
        return 0;
}

static const alder_ipc_method methods[] = {
        {"echo", m_echo},   {"peer", m_peer},
        {"fail", m_fail},   {"bare", m_bare_failure},
        {"big", m_big},     {"bad_utf8", m_bad_utf8},
        {"defer", m_defer}, {"release", m_release},
        {"early", m_early}, {"connections", m_connections},
        {NULL, NULL},
};

static void *server_thread(void *arg)
{
        struct fixture *f = arg;
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(alder_ipc_server_run(f->srv, &err), 0);
        return NULL;
}

static void make_dir(void)
{
        memset(&fx, 0, sizeof(fx));
        strcpy(fx.dir, "/tmp/test-ipc-XXXXXX");
        assert_non_null(mkdtemp(fx.dir));
        snprintf(fx.path, sizeof(fx.path), "%s/s.sock", fx.dir);
}

static void new_server(const alder_ipc_server_options *opts)
{
        _cleanup_error_ alder_error *err = NULL;
        alder_ipc_server_options o = opts ? *opts : (alder_ipc_server_options){0};
        o.name = "test-server";
        int r = alder_ipc_server_new(fx.path, methods, &fx, &o, &fx.srv, &err);
        if (r < 0)
                fail_msg("%s", alder_error_message(err));
}

static void start_server(const alder_ipc_server_options *opts)
{
        new_server(opts);
        assert_int_equal(pthread_create(&fx.thread, NULL, server_thread, &fx), 0);
        fx.running = true;
}

static int setup_dir(void **state)
{
        make_dir();
        return 0;
}

static int setup_server(void **state)
{
        make_dir();
        start_server(NULL);
        return 0;
}

static int teardown(void **state)
{
        if (fx.running) {
                alder_ipc_server_stop(fx.srv);
                pthread_join(fx.thread, NULL);
        }
        alder_ipc_server_free(fx.srv);
        if (fx.held) /* its connection is gone: the reply must go nowhere, without harm */
                alder_ipc_call_reply(fx.held, json_null());
        unlink(fx.path);
        rmdir(fx.dir);
        atomic_store(&io_chunk, 0);
        return 0;
}

static alder_ipc_client *connect_client(void)
{
        _cleanup_error_ alder_error *err = NULL;
        alder_ipc_client *c = NULL;
        if (alder_ipc_client_connect(fx.path, 2000, &c, &err) < 0)
                fail_msg("%s", alder_error_message(err));
        return c;
}

static json_t *call_ok(alder_ipc_client *c, const char *method, const char *params)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_json_ json_t *p = params ? alder_test_json(params) : NULL;
        json_t *result = NULL;
        if (alder_ipc_client_call(c, method, p, 5000, &result, &err) < 0)
                fail_msg("call '%s': %s", method, alder_error_message(err));
        return result;
}

static int64_t call_int(alder_ipc_client *c, const char *method)
{
        _cleanup_json_ json_t *r = call_ok(c, method, NULL);
        assert_true(json_is_integer(r));
        return json_integer_value(r);
}

/* Waits until the server has dropped connections it is closing (it runs in its own thread). */
static void wait_connections(alder_ipc_client *c, int64_t expected)
{
        for (int i = 0; i < 200 && call_int(c, "connections") != expected; i++)
                usleep(10 * 1000);
        assert_int_equal(call_int(c, "connections"), expected);
}

static void assert_echo(alder_ipc_client *c)
{
        _cleanup_json_ json_t *r = call_ok(c, "echo", "{\"still\": \"alive\"}");
        assert_string_equal(json_string_value(json_object_get(r, "still")), "alive");
}

/* ---- Raw clients (misbehaving on purpose) ----------------------------------- */

/* A socket, and fx.path as its address. */
static int raw_socket(struct sockaddr_un *ret_addr)
{
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        *ret_addr = (struct sockaddr_un){.sun_family = AF_UNIX};
        strcpy(ret_addr->sun_path, fx.path);
        return fd;
}

static int raw_connect(void)
{
        struct sockaddr_un addr;
        int fd = raw_socket(&addr);
        assert_int_equal(connect(fd, (struct sockaddr *) &addr, sizeof(addr)), 0);
        return fd;
}

/* A socket on fx.path that the test itself owns: it listens, but nobody accepts unless the test does. */
static int raw_listen(void)
{
        struct sockaddr_un addr;
        int fd = raw_socket(&addr);
        assert_int_equal(bind(fd, (struct sockaddr *) &addr, sizeof(addr)), 0);
        assert_int_equal(listen(fd, 4), 0);
        return fd;
}

static void raw_send(int fd, const void *data, size_t len)
{
        assert_int_equal(send(fd, data, len, MSG_NOSIGNAL), (ssize_t) len);
}

static void raw_send_body(int fd, const char *body)
{
        uint8_t buf[512];
        raw_send(fd, buf, make_frame(buf, sizeof(buf), body));
}

/* Reads exactly len bytes, each within 3 s; false when the stream ends first. */
static bool raw_read_exact(int fd, uint8_t *buf, size_t len)
{
        for (size_t got = 0; got < len;) {
                struct pollfd p = {.fd = fd, .events = POLLIN};
                assert_int_equal(poll(&p, 1, 3000), 1);
                ssize_t n = recv(fd, buf + got, len - got, 0);
                if (n <= 0)
                        return false;
                got += (size_t) n;
        }
        return true;
}

/* Reads one reply frame (and nothing after it); -ECONNRESET when the stream ends first. */
static int raw_read_reply(int fd, alder_ipc_reply *reply)
{
        uint8_t buf[8192];
        if (!raw_read_exact(fd, buf, 4))
                return -ECONNRESET;
        size_t len = (size_t) buf[0] << 24 | (size_t) buf[1] << 16 | (size_t) buf[2] << 8 | buf[3];
        assert_true(len <= sizeof(buf) - 4);
        if (!raw_read_exact(fd, buf + 4, len))
                return -ECONNRESET;
        alder_ipc_frame f;
        assert_int_equal(alder_ipc_frame_decode(buf, len + 4, sizeof(buf), &f, NULL), ALDER_IPC_FRAME_COMPLETE);
        assert_int_equal(alder_ipc_reply_parse(f.body, f.body_len, reply, NULL), 0);
        return 0;
}

static void raw_expect_error(int fd, bool has_id, int errnum, const char *message)
{
        _cleanup_ipc_reply_ alder_ipc_reply reply = {0};
        assert_int_equal(raw_read_reply(fd, &reply), 0);
        assert_int_equal(reply.has_id, has_id);
        assert_non_null(reply.error);
        assert_int_equal(alder_error_errno(reply.error), errnum);
        assert_string_equal(alder_error_message(reply.error), message);
}

/* The server closes: the stream ends (ECONNRESET when it discarded unread input). */
static void raw_expect_close(int fd)
{
        alder_ipc_reply reply = {0};
        assert_int_equal(raw_read_reply(fd, &reply), -ECONNRESET);
}

/* Reads a result reply to request `id`; with key, checks that result.key is `value`. */
static void raw_expect_result(int fd, uint64_t id, const char *key, json_int_t value)
{
        _cleanup_ipc_reply_ alder_ipc_reply reply = {0};
        assert_int_equal(raw_read_reply(fd, &reply), 0);
        assert_true(reply.has_id);
        assert_int_equal(reply.id, id);
        assert_non_null(reply.result);
        if (key)
                assert_int_equal(json_integer_value(json_object_get(reply.result, key)), value);
}

/* ---- Server and client ---------------------------------------------------------- */

static void test_echo_roundtrip(void **state)
{
        _cleanup_ipc_client_ alder_ipc_client *c = connect_client();
        _cleanup_json_ json_t *params =
                alder_test_json("{\"a\": [1, \"x\", {\"b\": null}], \"utf8\": \"gr\\u00fc\\u00df\"}");
        for (int i = 0; i < 3; i++) { /* several requests on one connection */
                json_t *result = NULL;
                assert_int_equal(alder_ipc_client_call(c, "echo", params, 2000, &result, NULL), 0);
                assert_true(json_equal(result, params));
                json_decref(result);
        }
        _cleanup_json_ json_t *empty = call_ok(c, "echo", NULL); /* no params: the handler gets {} */
        assert_true(json_is_object(empty));
        assert_int_equal(json_object_size(empty), 0);
}

static void test_peer_credentials(void **state)
{
        _cleanup_ipc_client_ alder_ipc_client *c = connect_client();
        _cleanup_json_ json_t *r = call_ok(c, "peer", NULL);
        assert_int_equal(json_integer_value(json_object_get(r, "pid")), getpid());
        assert_int_equal(json_integer_value(json_object_get(r, "uid")), getuid());
        assert_int_equal(json_integer_value(json_object_get(r, "gid")), getgid());
}

static void test_unknown_method(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_ipc_client_ alder_ipc_client *c = connect_client();
        assert_alder_error(alder_ipc_client_call(c, "nope", NULL, 2000, NULL, &err), EOPNOTSUPP,
                           "test-server: unknown method 'nope'");
        assert_echo(c); /* an error reply leaves the connection usable */
}

static void test_handler_error_propagated(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_ipc_client_ alder_ipc_client *c = connect_client();
        _cleanup_json_ json_t *params = alder_test_json("{\"name\": \"x\"}");
        json_t *result = NULL;
        assert_alder_error(alder_ipc_client_call(c, "fail", params, 2000, &result, &err), ENOENT,
                           "test-server: app 'x' not installed");
        assert_null(result);

        char expected[128];
        snprintf(expected, sizeof(expected), "test-server: method 'bare': %s", strerror(EIO));
        assert_alder_error(alder_ipc_client_call(c, "bare", NULL, 2000, NULL, &err), EIO, expected);
        assert_alder_error(alder_ipc_client_call(c, "bad_utf8", NULL, 2000, NULL, &err), EILSEQ,
                           "test-server: error message not sendable (not UTF-8 or too long)");
}

static void test_client_timeout_and_late_reply(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_ipc_client_ alder_ipc_client *c = connect_client();
        uint64_t start = now_ms();
        char expected[512];
        snprintf(expected, sizeof(expected), "call 'defer' on '%s': no reply within 200 ms", fx.path);
        assert_alder_error(alder_ipc_client_call(c, "defer", NULL, 200, NULL, &err), ETIMEDOUT, expected);
        uint64_t elapsed = now_ms() - start;
        assert_true(elapsed >= 200 && elapsed < 1500);

        /* the late reply to the timed-out call arrives first and is skipped */
        _cleanup_ipc_client_ alder_ipc_client *other = connect_client();
        json_decref(call_ok(other, "release", "{\"late\": true}"));
        assert_echo(c);
}

static void test_server_never_accepting_times_out(void **state)
{
        int fd = raw_listen(); /* its owner never answers */

        _cleanup_error_ alder_error *err = NULL;
        _cleanup_ipc_client_ alder_ipc_client *c = connect_client();
        uint64_t start = now_ms();
        assert_int_equal(alder_ipc_client_call(c, "anything", NULL, 150, NULL, &err), -ETIMEDOUT);
        assert_true(now_ms() - start < 1500);
        assert_non_null(strstr(alder_error_message(err), fx.path));
        close(fd);
}

/* Listens on fx.path, takes one connection and floods it with replies to another id for up to 3 s. */
static void *flood_thread(void *arg)
{
        int lfd = *(int *) arg;
        int fd = accept(lfd, NULL, NULL);
        assert_true(fd >= 0);
        uint8_t batch[64 * 1024];
        size_t n = 0;
        while (n + 64 < sizeof(batch))
                n += make_frame(batch + n, sizeof(batch) - n, "{\"id\": 999999, \"result\": 0}");
        /* __real_send: io_chunk slows down the client only, so that it never catches up */
        for (uint64_t start = now_ms(); now_ms() - start < 3000;)
                if (__real_send(fd, batch, n, MSG_NOSIGNAL) < 0)
                        break; /* the client has gone */
        close(fd);
        return NULL;
}

/* The timeout holds while data keeps coming, not only while the client waits for it. */
static void test_client_timeout_despite_flood(void **state)
{
        int lfd = raw_listen();
        pthread_t flooder;
        assert_int_equal(pthread_create(&flooder, NULL, flood_thread, &lfd), 0);

        _cleanup_error_ alder_error *err = NULL;
        alder_ipc_client *c = connect_client();
        atomic_store(&io_chunk, 3);
        uint64_t start = now_ms();
        char expected[512];
        snprintf(expected, sizeof(expected), "call 'echo' on '%s': no reply within 200 ms", fx.path);
        assert_alder_error(alder_ipc_client_call(c, "echo", NULL, 200, NULL, &err), ETIMEDOUT, expected);
        assert_true(now_ms() - start < 1500);
        alder_ipc_client_free(c);
        pthread_join(flooder, NULL);
        close(lfd);
}

static void test_deferred_reply_does_not_block_others(void **state)
{
        int a = raw_connect();
        raw_send_body(a, "{\"id\": 11, \"method\": \"defer\", \"params\": {}}");
        _cleanup_ipc_client_ alder_ipc_client *b = connect_client();
        assert_echo(b); /* served while a's call is pending */
        json_decref(call_ok(b, "release", "{\"v\": 42}"));

        raw_expect_result(a, 11, "v", 42);
        close(a);
}

static void test_client_gone_while_call_deferred(void **state)
{
        _cleanup_ipc_client_ alder_ipc_client *b = connect_client();
        int a = raw_connect();
        raw_send_body(a, "{\"id\": 1, \"method\": \"defer\"}");
        wait_connections(b, 2);
        close(a);
        wait_connections(b, 1);
        json_decref(call_ok(b, "release", "{}")); /* its reply goes nowhere */
        assert_echo(b);
}

static void test_reply_from_inside_handler(void **state)
{
        _cleanup_ipc_client_ alder_ipc_client *c = connect_client();
        _cleanup_json_ json_t *r = call_ok(c, "early", NULL);
        assert_string_equal(json_string_value(r), "early");
        assert_echo(c);
}

static void test_oversized_frame_closes_only_that_connection(void **state)
{
        start_server(&(alder_ipc_server_options){.max_message_size = MAX_SMALL});
        _cleanup_ipc_client_ alder_ipc_client *good = connect_client();
        int bad = raw_connect();
        static const uint8_t header[] = {0x7f, 0xff, 0xff, 0xff, '{', '"'};
        raw_send(bad, header, sizeof(header));
        raw_expect_error(bad, false, EMSGSIZE,
                         "test-server: frame: length 2147483647 exceeds the maximum message size of 4096 bytes");
        raw_expect_close(bad);
        close(bad);
        assert_echo(good);
        wait_connections(good, 1);
}

static void test_zero_length_frame_closes_connection(void **state)
{
        int fd = raw_connect();
        static const uint8_t zero[4] = {0};
        raw_send(fd, zero, sizeof(zero));
        raw_expect_error(fd, false, EBADMSG,
                         "test-server: frame: length 0 is not allowed (a message is a JSON object)");
        raw_expect_close(fd);
        close(fd);
}

static void test_invalid_requests_answered_connection_kept(void **state)
{
        int fd = raw_connect();
        raw_send_body(fd, "garbage");
        raw_expect_error(fd, false, EBADMSG, "test-server: request:1:7: '[' or '{' expected near 'garbage'");
        raw_send_body(fd, "{\"id\": 4, \"method\": \"\xc3\x28\"}");
        raw_expect_error(fd, false, EBADMSG, "test-server: request:1:21: unable to decode byte 0xc3 near '\"'");
        raw_send_body(fd, "{\"id\": 5, \"method\": 7}");
        raw_expect_error(fd, true, EINVAL, "test-server: request: field 'method': expected string, got integer");
        raw_send_body(fd, "{\"id\": 6, \"method\": \"echo\", \"params\": {\"k\": 1}}");
        raw_expect_result(fd, 6, "k", 1);
        close(fd);
}

static void test_partial_frame_then_disconnect(void **state)
{
        _cleanup_ipc_client_ alder_ipc_client *good = connect_client();
        int fd = raw_connect();
        static const uint8_t partial[] = {0, 0, 0, 100, '{', '"', 'i', 'd'};
        raw_send(fd, partial, sizeof(partial));
        wait_connections(good, 2);
        close(fd);
        wait_connections(good, 1);
        assert_echo(good);
}

static void test_pipelined_requests_answered_in_order(void **state)
{
        int fd = raw_connect();
        uint8_t buf[256];
        size_t n = make_frame(buf, sizeof(buf), "{\"id\": 1, \"method\": \"echo\", \"params\": {\"n\": 1}}");
        n += make_frame(buf + n, sizeof(buf) - n, "{\"id\": 2, \"method\": \"echo\", \"params\": {\"n\": 2}}");
        raw_send(fd, buf, n); /* two requests in one write */
        raw_expect_result(fd, 1, "n", 1);
        raw_expect_result(fd, 2, "n", 2);
        close(fd);
}

static void test_max_connections_refused(void **state)
{
        start_server(&(alder_ipc_server_options){.max_connections = 2});
        _cleanup_error_ alder_error *err = NULL;
        alder_ipc_client *first = connect_client();
        _cleanup_ipc_client_ alder_ipc_client *second = connect_client();
        wait_connections(second, 2);

        _cleanup_ipc_client_ alder_ipc_client *third = connect_client();
        assert_alder_error(alder_ipc_client_call(third, "echo", NULL, 2000, NULL, &err), EBUSY,
                           "test-server: too many connections (maximum 2)");

        alder_ipc_client_free(first);
        wait_connections(second, 1);
        _cleanup_ipc_client_ alder_ipc_client *fourth = connect_client();
        assert_echo(fourth);
}

static void test_idle_connection_closed(void **state)
{
        start_server(&(alder_ipc_server_options){.idle_timeout_ms = 100});
        int fd = raw_connect();
        uint64_t start = now_ms();
        raw_expect_close(fd);
        assert_true(now_ms() - start >= 90);
        close(fd);
}

/* A client that sends and never reads stalls only itself, and is dropped when idle. */
static void test_client_that_never_reads(void **state)
{
        start_server(&(alder_ipc_server_options){.idle_timeout_ms = 200, .max_message_size = MAX_SMALL});
        _cleanup_ipc_client_ alder_ipc_client *good = connect_client();
        int fd = raw_connect();
        uint8_t frame[512];
        size_t n = make_frame(frame, sizeof(frame), "{\"id\": 1, \"method\": \"big\", \"params\": {\"size\": 3000}}");
        int sent = 0;
        while (sent < 10000 && send(fd, frame, n, MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t) n)
                sent++;
        assert_true(sent < 10000); /* the server stopped reading: backpressure */
        assert_echo(good);
        wait_connections(good, 1);
        close(fd);
}

static void test_reply_too_large_for_server(void **state)
{
        start_server(&(alder_ipc_server_options){.max_message_size = MAX_SMALL});
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_ipc_client_ alder_ipc_client *c = connect_client();
        _cleanup_json_ json_t *params = alder_test_json("{\"size\": 5000}");
        assert_alder_error(alder_ipc_client_call(c, "big", params, 2000, NULL, &err), EMSGSIZE,
                           "test-server: reply: message of 5020 bytes exceeds the maximum message size of 4096 bytes");
        assert_echo(c);
}

static void test_client_message_limits(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_ipc_client_ alder_ipc_client *c = connect_client();
        assert_alder_error(alder_ipc_client_set_max_message_size(c, 100, &err), EINVAL,
                           "maximum message size 100 is outside [1024, 4294967295]");
        assert_int_equal(alder_ipc_client_set_max_message_size(c, 1024, &err), 0);

        /* too large to send: refused before anything is written, the connection stays usable */
        char big[1100];
        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        _cleanup_json_ json_t *params = json_pack("{s:s}", "s", big);
        char expected[512];
        snprintf(expected, sizeof(expected),
                 "call 'echo' on '%s': request: message of 1141 bytes exceeds the maximum message size of 1024 bytes",
                 fx.path);
        assert_alder_error(alder_ipc_client_call(c, "echo", params, 2000, NULL, &err), EMSGSIZE, expected);
        assert_echo(c);

        /* too large a reply: the stream is lost, and every later call says why */
        _cleanup_json_ json_t *size = alder_test_json("{\"size\": 2000}");
        snprintf(expected, sizeof(expected),
                 "call 'big' on '%s': reply: frame: length 2020 exceeds the maximum message size of 1024 bytes",
                 fx.path);
        assert_alder_error(alder_ipc_client_call(c, "big", size, 2000, NULL, &err), EMSGSIZE, expected);
        char later[1024];
        snprintf(later, sizeof(later), "call 'echo' on '%s': connection unusable after an earlier failure (%s)",
                 fx.path, expected);
        assert_alder_error(alder_ipc_client_call(c, "echo", NULL, 2000, NULL, &err), EMSGSIZE, later);
}

static void test_client_params_must_be_object(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_ipc_client_ alder_ipc_client *c = connect_client();
        _cleanup_json_ json_t *arr = alder_test_json("[1]");
        char expected[512];
        snprintf(expected, sizeof(expected), "call 'echo' on '%s': params: expected object, got array", fx.path);
        assert_alder_error(alder_ipc_client_call(c, "echo", arr, 2000, NULL, &err), EINVAL, expected);
        assert_echo(c);
}

static void test_client_connect_errors(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        alder_ipc_client *c = NULL;
        char expected[512];
        snprintf(expected, sizeof(expected), "connect to '%s': %s", fx.path, strerror(ENOENT));
        assert_alder_error(alder_ipc_client_connect(fx.path, 500, &c, &err), ENOENT, expected);
        assert_null(c);

        char long_path[200];
        memset(long_path, 'p', sizeof(long_path) - 1);
        long_path[sizeof(long_path) - 1] = '\0';
        assert_int_equal(alder_ipc_client_connect(long_path, 500, &c, &err), -ENAMETOOLONG);

        /* out of fds: the message still names the socket the caller wanted */
        struct rlimit saved;
        assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
        int lowest_free = dup(STDIN_FILENO);
        assert_true(lowest_free >= 0);
        close(lowest_free);
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &(struct rlimit){lowest_free, saved.rlim_max}), 0);
        snprintf(expected, sizeof(expected), "connect to '%s': create socket: %s", fx.path, strerror(EMFILE));
        assert_alder_error(alder_ipc_client_connect(fx.path, 500, &c, &err), EMFILE, expected);
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
}

static void test_server_closed_connection(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_ipc_client_ alder_ipc_client *c = connect_client();
        assert_echo(c);
        alder_ipc_server_stop(fx.srv);
        pthread_join(fx.thread, NULL);
        fx.running = false;
        alder_ipc_server_free(steal_pointer(&fx.srv));

        char expected[512];
        snprintf(expected, sizeof(expected), "call 'echo' on '%s': connection closed by the server", fx.path);
        assert_alder_error(alder_ipc_client_call(c, "echo", NULL, 2000, NULL, &err), ECONNRESET, expected);
        /* free removed the socket file it created */
        assert_int_equal(access(fx.path, F_OK), -1);
}

static void test_socket_file_handling(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        alder_ipc_server *srv = NULL;

        /* a stale socket (its server is gone) is replaced */
        close(raw_listen());
        new_server(&(alder_ipc_server_options){.socket_mode = 0660});
        struct stat st;
        assert_int_equal(stat(fx.path, &st), 0);
        assert_true(S_ISSOCK(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0660);

        /* a live one is not */
        char expected[512];
        snprintf(expected, sizeof(expected), "IPC server on '%s': '%s': another server is listening on it", fx.path,
                 fx.path);
        assert_alder_error(alder_ipc_server_new(fx.path, methods, NULL, NULL, &srv, &err), EADDRINUSE, expected);
        assert_null(srv);
        alder_ipc_server_free(steal_pointer(&fx.srv));

        /* nor is a file that is not a socket */
        FILE *f = fopen(fx.path, "w");
        fclose(f);
        snprintf(expected, sizeof(expected),
                 "IPC server on '%s': '%s' exists and is not a socket; refusing to replace it", fx.path, fx.path);
        assert_alder_error(alder_ipc_server_new(fx.path, methods, NULL, NULL, &srv, &err), EEXIST, expected);

        assert_int_equal(alder_ipc_server_new(fx.path, methods, NULL,
                                              &(alder_ipc_server_options){.max_message_size = 10}, &srv, &err),
                         -EINVAL);
}

/* The daemon's own loop polls the server fd and calls run_once: no thread needed. */
static void test_run_once_in_own_loop(void **state)
{
        new_server(NULL);
        int fd = raw_connect();
        raw_send_body(fd, "{\"id\": 77, \"method\": \"echo\", \"params\": {}}");
        struct pollfd p[2] = {{.fd = alder_ipc_server_fd(fx.srv), .events = POLLIN}, {.fd = fd, .events = POLLIN}};
        for (int i = 0; i < 100 && !(p[1].revents & POLLIN); i++) {
                assert_true(poll(p, 2, 1000) > 0);
                if (p[0].revents & POLLIN)
                        assert_true(alder_ipc_server_run_once(fx.srv, 0, NULL) >= 0);
        }
        raw_expect_result(fd, 77, NULL, 0);
        close(fd);
}

static void test_partial_io_and_eintr(void **state)
{
        atomic_store(&io_chunk, 3); /* both sides: 3 bytes per send/recv, EINTR every other recv */
        _cleanup_ipc_client_ alder_ipc_client *c = connect_client();
        for (int i = 0; i < 2; i++)
                assert_echo(c);
        _cleanup_json_ json_t *r = call_ok(c, "peer", NULL);
        assert_int_equal(json_integer_value(json_object_get(r, "pid")), getpid());
}

static void test_accept_failure_retried(void **state)
{
        atomic_store(&accept_fail, EMFILE); /* the server pauses accepting, then tries again */
        _cleanup_ipc_client_ alder_ipc_client *c = connect_client();
        assert_echo(c);
        assert_int_equal(atomic_load(&accept_fail), 0);
}

static void test_peer_credentials_failure_refuses(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        atomic_store(&peercred_fail, EACCES);
        _cleanup_ipc_client_ alder_ipc_client *c = connect_client();
        char expected[128];
        snprintf(expected, sizeof(expected), "test-server: read peer credentials: %s", strerror(EACCES));
        assert_alder_error(alder_ipc_client_call(c, "echo", NULL, 2000, NULL, &err), EACCES, expected);
}

int main(void)
{
#define SERVER_TEST(t) cmocka_unit_test_setup_teardown(t, setup_server, teardown)
#define DIR_TEST(t)    cmocka_unit_test_setup_teardown(t, setup_dir, teardown)
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_frame_complete),
                cmocka_unit_test(test_frame_byte_by_byte),
                cmocka_unit_test(test_frame_two_in_one_buffer),
                cmocka_unit_test(test_frame_truncated_needs_more),
                cmocka_unit_test(test_frame_zero_length),
                cmocka_unit_test(test_frame_oversized_refused_from_header),
                cmocka_unit_test(test_frame_encode_roundtrip_and_limit),
                cmocka_unit_test(test_frame_encode_limit_is_the_header),
                cmocka_unit_test(test_request_valid),
                cmocka_unit_test(test_reply_result_and_error),
                cmocka_unit_test(test_invalid_messages_refused),
                SERVER_TEST(test_echo_roundtrip),
                SERVER_TEST(test_peer_credentials),
                SERVER_TEST(test_unknown_method),
                SERVER_TEST(test_handler_error_propagated),
                SERVER_TEST(test_client_timeout_and_late_reply),
                DIR_TEST(test_server_never_accepting_times_out),
                DIR_TEST(test_client_timeout_despite_flood),
                SERVER_TEST(test_deferred_reply_does_not_block_others),
                SERVER_TEST(test_client_gone_while_call_deferred),
                SERVER_TEST(test_reply_from_inside_handler),
                DIR_TEST(test_oversized_frame_closes_only_that_connection),
                SERVER_TEST(test_zero_length_frame_closes_connection),
                SERVER_TEST(test_invalid_requests_answered_connection_kept),
                SERVER_TEST(test_partial_frame_then_disconnect),
                SERVER_TEST(test_pipelined_requests_answered_in_order),
                DIR_TEST(test_max_connections_refused),
                DIR_TEST(test_idle_connection_closed),
                DIR_TEST(test_client_that_never_reads),
                DIR_TEST(test_reply_too_large_for_server),
                SERVER_TEST(test_client_message_limits),
                SERVER_TEST(test_client_params_must_be_object),
                DIR_TEST(test_client_connect_errors),
                SERVER_TEST(test_server_closed_connection),
                DIR_TEST(test_socket_file_handling),
                DIR_TEST(test_run_once_in_own_loop),
                SERVER_TEST(test_partial_io_and_eintr),
                SERVER_TEST(test_accept_failure_retried),
                SERVER_TEST(test_peer_credentials_failure_refuses),
        };
        return cmocka_run_group_tests_name("ipc", tests, NULL, NULL);
}
