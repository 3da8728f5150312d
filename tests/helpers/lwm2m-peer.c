/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lwm2m-peer: a minimal LwM2M server for alder-dmc's system tests
 * (tests/system/test_dmc.py), on libcoap as a server would be written.
 *
 *   lwm2m-peer PORT [PSK_IDENTITY PSK_HEX]   UDP on 127.0.0.1:PORT (and DTLS-PSK on PORT+1)
 *
 * It accepts Register / Update / De-register on /rd and prints one JSON
 * object per line on stdout for each ({"event": "register", "ep", "query",
 * "payload", "location"}, "update", "deregister"). Commands on stdin, one per
 * line, go to the last registered client:
 *   get PATH [ACCEPT]            read (ACCEPT 40: discover)
 *   observe PATH [ACCEPT]        read with Observe=0; notifications follow as "notify"
 *   cancel PATH                  read with Observe=1 on the observation's token
 *   put PATH CT HEX              write (replace); CT -1 and HEX "-" for none
 *   post PATH CT HEX             write (partial) / execute / create
 *   delete PATH
 *   attrs PATH QUERY             Write-Attributes (PUT with Uri-Query options, split on '&')
 * Each answer prints {"event": "response", "id", "code": "2.05", "ct", "hex", "text"}.
 * With LWM2M_PEER_SERVE=FILE it also serves FILE at /fw/image (Block2), for firmware pulls.
 * Requests go out CON with a token that numbers them ("id"). It stops at EOF.
 */
#include <arpa/inet.h>
#include <coap3/coap.h>
#include <ctype.h>
#include <stdbool.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static coap_session_t *client;
static unsigned next_id = 1, next_loc = 1;
static char location[32];
static struct {
        char path[64];
        uint8_t token[8];
        size_t token_len;
} observations[16];
static size_t n_observations;

static void print_json_string(const uint8_t *s, size_t len)
{
        putchar('"');
        for (size_t i = 0; i < len; i++) {
                if (s[i] == '"' || s[i] == '\\')
                        printf("\\%c", s[i]);
                else if (s[i] < 0x20 || s[i] >= 0x7f)
                        printf("\\u%04x", s[i]);
                else
                        putchar(s[i]);
        }
        putchar('"');
}

static void print_hex(const uint8_t *s, size_t len)
{
        putchar('"');
        for (size_t i = 0; i < len; i++)
                printf("%02x", s[i]);
        putchar('"');
}

static void print_queries(const coap_pdu_t *pdu)
{
        coap_opt_iterator_t it;
        coap_opt_filter_t f;
        coap_option_filter_clear(&f);
        coap_option_filter_set(&f, COAP_OPTION_URI_QUERY);
        coap_option_iterator_init(pdu, &it, &f);
        coap_opt_t *o;
        printf("\"query\": [");
        for (int n = 0; (o = coap_option_next(&it)); n++) {
                printf("%s", n ? ", " : "");
                print_json_string(coap_opt_value(o), coap_opt_length(o));
        }
        printf("]");
}

static void print_payload(const coap_pdu_t *pdu)
{
        size_t len = 0, off, total;
        const uint8_t *data = NULL;
        coap_get_data_large(pdu, &len, &data, &off, &total);
        printf("\"hex\": ");
        print_hex(data, len);
        printf(", \"text\": ");
        print_json_string(data, len);
}

static int content_format(const coap_pdu_t *pdu)
{
        coap_opt_iterator_t it;
        coap_opt_t *o = coap_check_option(pdu, COAP_OPTION_CONTENT_FORMAT, &it);
        return o ? (int) coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o)) : -1;
}

static void event(const char *name, coap_session_t *session, const coap_pdu_t *request)
{
        printf("{\"event\": \"%s\", ", name);
        print_queries(request);
        printf(", \"location\": \"%s\", ", location);
        print_payload(request);
        printf(", \"dtls\": %s}\n", coap_session_get_proto(session) == COAP_PROTO_DTLS ? "true" : "false");
        fflush(stdout);
}

static void hnd_update(coap_resource_t *r, coap_session_t *session, const coap_pdu_t *request,
                       const coap_string_t *query, coap_pdu_t *response)
{
        event("update", session, request);
        coap_pdu_set_code(response, COAP_RESPONSE_CODE_CHANGED);
}

static void hnd_deregister(coap_resource_t *r, coap_session_t *session, const coap_pdu_t *request,
                           const coap_string_t *query, coap_pdu_t *response)
{
        event("deregister", session, request);
        coap_pdu_set_code(response, COAP_RESPONSE_CODE_DELETED);
}

static void hnd_register(coap_resource_t *r, coap_session_t *session, const coap_pdu_t *request,
                         const coap_string_t *query, coap_pdu_t *response)
{
        if (client)
                coap_session_release(client);
        client = coap_session_reference(session);
        n_observations = 0;
        snprintf(location, sizeof(location), "rd/%u", next_loc++);
        coap_resource_t *reg = coap_resource_init(coap_new_str_const((const uint8_t *) location, strlen(location)),
                                                  COAP_RESOURCE_FLAGS_RELEASE_URI);
        coap_register_request_handler(reg, COAP_REQUEST_POST, hnd_update);
        coap_register_request_handler(reg, COAP_REQUEST_DELETE, hnd_deregister);
        coap_add_resource(coap_session_get_context(session), reg);
        event("register", session, request);
        coap_add_option(response, COAP_OPTION_LOCATION_PATH, 2, (const uint8_t *) "rd");
        coap_add_option(response, COAP_OPTION_LOCATION_PATH, strlen(location + 3), (const uint8_t *) location + 3);
        coap_pdu_set_code(response, COAP_RESPONSE_CODE_CREATED);
}

static uint8_t *served;
static size_t served_len;

static void hnd_image(coap_resource_t *r, coap_session_t *session, const coap_pdu_t *request,
                      const coap_string_t *query, coap_pdu_t *response)
{
        coap_pdu_set_code(response, COAP_RESPONSE_CODE_CONTENT);
        coap_add_data_large_response(r, session, request, response, query, COAP_MEDIATYPE_APPLICATION_OCTET_STREAM, -1,
                                     0, served_len, served, NULL, NULL);
        printf("{\"event\": \"image\"}\n");
        fflush(stdout);
}

static const char *observed_path(coap_bin_const_t token)
{
        for (size_t i = 0; i < n_observations; i++)
                if (observations[i].token_len == token.length &&
                    memcmp(observations[i].token, token.s, token.length) == 0)
                        return observations[i].path;
        return NULL;
}

static coap_response_t on_response(coap_session_t *session, const coap_pdu_t *sent, const coap_pdu_t *received,
                                   const coap_mid_t mid)
{
        coap_bin_const_t token = coap_pdu_get_token(received);
        unsigned id = (unsigned) coap_decode_var_bytes8(token.s, token.length);
        coap_opt_iterator_t it;
        coap_opt_t *obs = coap_check_option(received, COAP_OPTION_OBSERVE, &it);
        const char *path = observed_path(token);
        unsigned code = coap_pdu_get_code(received);
        printf("{\"event\": \"%s\", \"id\": %u, \"code\": \"%u.%02u\", \"ct\": %d, \"observe\": %d, \"path\": \"%s\", ",
               obs && path && sent == NULL ? "notify" : "response", id, code >> 5, code & 31, content_format(received),
               obs ? (int) coap_decode_var_bytes(coap_opt_value(obs), coap_opt_length(obs)) : -1, path ? path : "");
        print_payload(received);
        printf("}\n");
        fflush(stdout);
        return COAP_RESPONSE_OK;
}

static int hex_decode(const char *hex, uint8_t *out, size_t max)
{
        size_t n = strlen(hex);
        if (strcmp(hex, "-") == 0)
                return 0;
        if (n % 2 || n / 2 > max)
                return -1;
        for (size_t i = 0; i < n / 2; i++) {
                unsigned v;
                if (sscanf(hex + 2 * i, "%2x", &v) != 1)
                        return -1;
                out[i] = (uint8_t) v;
        }
        return (int) (n / 2);
}

static void send_command(char *line)
{
        char *argv[5] = {0};
        int argc = 0;
        for (char *tok = strtok(line, " \n"); tok && argc < 5; tok = strtok(NULL, " \n"))
                argv[argc++] = tok;
        if (argc < 2 || !client) {
                printf("{\"event\": \"error\", \"message\": \"%s\"}\n",
                       client ? "bad command" : "no client registered");
                fflush(stdout);
                return;
        }
        const char *cmd = argv[0];
        char *path = argv[1];
        coap_pdu_code_t code = strcmp(cmd, "put") == 0 || strcmp(cmd, "attrs") == 0 ? COAP_REQUEST_CODE_PUT
                               : strcmp(cmd, "post") == 0                           ? COAP_REQUEST_CODE_POST
                               : strcmp(cmd, "delete") == 0                         ? COAP_REQUEST_CODE_DELETE
                                                                                    : COAP_REQUEST_CODE_GET;
        coap_pdu_t *pdu =
                coap_pdu_init(COAP_MESSAGE_CON, code, coap_new_message_id(client), coap_session_max_pdu_size(client));
        uint8_t token[8];
        unsigned id = next_id++;
        size_t tlen = coap_encode_var_safe8(token, sizeof(token), id);
        bool cancel = strcmp(cmd, "cancel") == 0;
        if (cancel) {
                for (size_t i = 0; i < n_observations; i++)
                        if (strcmp(observations[i].path, path) == 0) {
                                memcpy(token, observations[i].token, observations[i].token_len);
                                tlen = observations[i].token_len;
                        }
        }
        coap_add_token(pdu, tlen, token);
        uint8_t buf[4];
        if (strcmp(cmd, "observe") == 0 || cancel)
                coap_add_option(pdu, COAP_OPTION_OBSERVE, coap_encode_var_safe(buf, sizeof(buf), cancel ? 1 : 0), buf);
        for (char *p = path + (path[0] == '/'); *p;) {
                size_t n = strcspn(p, "/");
                coap_add_option(pdu, COAP_OPTION_URI_PATH, n, (const uint8_t *) p);
                p += n + (p[n] == '/');
        }
        static uint8_t payload[65536];
        int len = -1;
        if ((code == COAP_REQUEST_CODE_PUT || code == COAP_REQUEST_CODE_POST) && strcmp(cmd, "attrs") != 0 &&
            argc >= 4) {
                int ct = atoi(argv[2]);
                if (ct >= 0)
                        coap_add_option(pdu, COAP_OPTION_CONTENT_FORMAT,
                                        coap_encode_var_safe(buf, sizeof(buf), (unsigned) ct), buf);
                len = hex_decode(argv[3], payload, sizeof(payload));
        }
        if (code == COAP_REQUEST_CODE_GET && argc >= 3)
                coap_add_option(pdu, COAP_OPTION_ACCEPT,
                                coap_encode_var_safe(buf, sizeof(buf), (unsigned) atoi(argv[2])), buf);
        if (strcmp(cmd, "attrs") == 0 && argc >= 3)
                for (char *q = strtok(argv[2], "&"); q; q = strtok(NULL, "&"))
                        coap_add_option(pdu, COAP_OPTION_URI_QUERY, strlen(q), (const uint8_t *) q);
        if (len > 0)
                coap_add_data_large_request(client, pdu, (size_t) len, payload, NULL, NULL);
        if (strcmp(cmd, "observe") == 0 && n_observations < 16) {
                snprintf(observations[n_observations].path, sizeof(observations[0].path), "%s", path);
                memcpy(observations[n_observations].token, token, tlen);
                observations[n_observations++].token_len = tlen;
        }
        coap_send(client, pdu);
        printf("{\"event\": \"sent\", \"id\": %u}\n", id);
        fflush(stdout);
}

int main(int argc, char **argv)
{
        if (argc != 2 && argc != 4) {
                fprintf(stderr, "usage: lwm2m-peer PORT [PSK_IDENTITY PSK_HEX]\n");
                return 2;
        }
        coap_startup();
        coap_set_log_level(LOG_WARNING);
        coap_context_t *ctx = coap_new_context(NULL);
        coap_context_set_block_mode(ctx, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
        static uint8_t key[64];
        if (argc == 4) {
                int klen = hex_decode(argv[3], key, sizeof(key));
                static coap_dtls_spsk_t psk = {.version = COAP_DTLS_SPSK_SETUP_VERSION};
                psk.psk_info.key = (coap_bin_const_t){(size_t) klen, key};
                psk.psk_info.hint = (coap_bin_const_t){0, NULL};
                if (klen <= 0 || !coap_context_set_psk2(ctx, &psk)) {
                        fprintf(stderr, "lwm2m-peer: bad PSK\n");
                        return 1;
                }
        }
        coap_address_t addr;
        coap_address_init(&addr);
        addr.addr.sin.sin_family = AF_INET;
        addr.addr.sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.addr.sin.sin_port = htons((uint16_t) atoi(argv[1]));
        addr.size = sizeof(addr.addr.sin);
        if (!coap_new_endpoint(ctx, &addr, COAP_PROTO_UDP))
                return 1;
        if (argc == 4) {
                addr.addr.sin.sin_port = htons((uint16_t) (atoi(argv[1]) + 1));
                if (!coap_new_endpoint(ctx, &addr, COAP_PROTO_DTLS))
                        return 1;
        }
        coap_resource_t *rd = coap_resource_init(coap_make_str_const("rd"), 0);
        coap_register_request_handler(rd, COAP_REQUEST_POST, hnd_register);
        coap_add_resource(ctx, rd);
        coap_register_response_handler(ctx, on_response);
        const char *serve = getenv("LWM2M_PEER_SERVE");
        if (serve) {
                FILE *fp = fopen(serve, "rb");
                if (!fp || fseek(fp, 0, SEEK_END) < 0)
                        return 1;
                served_len = (size_t) ftell(fp);
                rewind(fp);
                served = malloc(served_len ? served_len : 1);
                if (!served || fread(served, 1, served_len, fp) != served_len)
                        return 1;
                fclose(fp);
                coap_resource_t *img = coap_resource_init(coap_make_str_const("fw/image"), 0);
                coap_register_request_handler(img, COAP_REQUEST_GET, hnd_image);
                coap_add_resource(ctx, img);
        }
        printf("{\"event\": \"ready\"}\n");
        fflush(stdout);
        char line[140000];
        size_t have = 0;
        for (;;) {
                struct pollfd pfd[2] = {{.fd = STDIN_FILENO, .events = POLLIN},
                                        {.fd = coap_context_get_coap_fd(ctx), .events = POLLIN}};
                poll(pfd, 2, 100);
                if (pfd[0].revents & (POLLIN | POLLHUP)) {
                        ssize_t n = read(STDIN_FILENO, line + have, sizeof(line) - 1 - have);
                        if (n <= 0)
                                break;
                        have += (size_t) n;
                        char *nl;
                        while ((nl = memchr(line, '\n', have))) {
                                *nl = '\0';
                                send_command(line);
                                size_t used = (size_t) (nl - line) + 1;
                                memmove(line, nl + 1, have - used);
                                have -= used;
                        }
                }
                coap_io_process(ctx, COAP_IO_NO_WAIT);
        }
        if (client)
                coap_session_release(client);
        coap_free_context(ctx);
        coap_cleanup();
        free(served);
        return 0;
}
