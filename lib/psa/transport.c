/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The transport of alder-secd's protocol (psa-client.h): a connection and one
 * exchange of frames. Shared by libalder-psa, `alder secure` and alder-appd
 * (which asks secd to serve the apps it starts), none of which needs more.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "psa-client.h"

int secd_connect(const char *path, unsigned timeout_s)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        struct timeval tv = {.tv_sec = timeout_s};
        if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
            connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                int e = errno;
                close(fd);
                return -e;
        }
        return fd;
}

static int io_all(int fd, uint8_t *buf, size_t len, bool out)
{
        while (len) {
                ssize_t n = out ? send(fd, buf, len, MSG_NOSIGNAL) : recv(fd, buf, len, 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return -1;
                buf += n;
                len -= (size_t) n;
        }
        return 0;
}

psa_status_t secd_transact(int fd, uint8_t *req, size_t req_len, uint8_t *reply, struct secd_msg *ret)
{
        struct secd_header h;
        if (req_len == 0)
                return PSA_ERROR_INVALID_ARGUMENT; /* the request did not fit in a frame */
        if (io_all(fd, req, req_len, true) < 0 || io_all(fd, reply, SECD_WIRE_HEADER_SIZE, false) < 0)
                return PSA_ERROR_COMMUNICATION_FAILURE;
        if (secd_header_decode(reply, SECD_WIRE_HEADER_SIZE, &h) != PSA_SUCCESS || h.opcode != req[6] + (req[7] << 8))
                return PSA_ERROR_COMMUNICATION_FAILURE;
        if (io_all(fd, reply + SECD_WIRE_HEADER_SIZE, h.body_len, false) < 0 ||
            secd_body_decode(reply + SECD_WIRE_HEADER_SIZE, h.body_len, ret) != PSA_SUCCESS)
                return PSA_ERROR_COMMUNICATION_FAILURE;
        return h.status;
}
