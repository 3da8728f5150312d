/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Object 4, Connectivity Monitoring, read from the kernel: the bearer is the
 * interface of the default route (/proc/net/route, /proc/net/ipv6_route),
 * its kind from /sys/class/net (wireless/ → WLAN 21, else Ethernet 41),
 * addresses from getifaddrs(), routers from the default routes, signal and
 * link quality from /proc/net/wireless for a wireless bearer. ConnMan is
 * not asked (no D-Bus here); what the kernel does not know is absent (4.04).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alder/fileio.h"
#include "daemon.h"
#include "objects.h"

enum {
        RES_BEARER = 0,
        RES_AVAILABLE_BEARERS = 1,
        RES_SIGNAL = 2,
        RES_LINK_QUALITY = 3,
        RES_IP_ADDRESSES = 4,
        RES_ROUTERS = 5,
};

/* Network Bearer values (Object 4, resource 0). */
enum { BEARER_WLAN = 21, BEARER_ETHERNET = 41 };

#define MAX_ROUTERS 8

static bool is_wireless(const char *ifname)
{
        char path[64 + IF_NAMESIZE];
        snprintf(path, sizeof(path), "/sys/class/net/%s/wireless", ifname);
        return access(path, F_OK) == 0;
}

static int bearer_of(const char *ifname)
{
        return is_wireless(ifname) ? BEARER_WLAN : BEARER_ETHERNET;
}

/* Default IPv4 routes: interface and gateway. Returns how many were found. */
static size_t default_routes(char ifs[][IF_NAMESIZE], char gws[][INET6_ADDRSTRLEN], size_t max)
{
        _cleanup_free_ char *data = NULL;
        size_t len, n = 0;
        if (alder_read_file("/proc/net/route", 1 << 20, &data, &len, NULL) < 0)
                return 0;
        char *save = NULL;
        for (char *line = strtok_r(data, "\n", &save); line && n < max; line = strtok_r(NULL, "\n", &save)) {
                char ifname[IF_NAMESIZE];
                unsigned dest, gw, flags;
                if (sscanf(line, "%15s %x %x %x", ifname, &dest, &gw, &flags) != 4 || dest != 0 || !(flags & 1))
                        continue;
                snprintf(ifs[n], IF_NAMESIZE, "%s", ifname);
                struct in_addr a = {.s_addr = gw}; /* the file holds it in network order, printed as host hex */
                inet_ntop(AF_INET, &a, gws[n], INET6_ADDRSTRLEN);
                n++;
        }
        return n;
}

/* Default IPv6 routes (::/0) from /proc/net/ipv6_route, appended after n. */
static size_t default_routes6(char ifs[][IF_NAMESIZE], char gws[][INET6_ADDRSTRLEN], size_t n, size_t max)
{
        _cleanup_free_ char *data = NULL;
        size_t len;
        if (alder_read_file("/proc/net/ipv6_route", 1 << 20, &data, &len, NULL) < 0)
                return n;
        char *save = NULL;
        for (char *line = strtok_r(data, "\n", &save); line && n < max; line = strtok_r(NULL, "\n", &save)) {
                char dst[33], src[33], gw[33], ifname[IF_NAMESIZE];
                unsigned dlen, slen, metric, ref, use, flags;
                if (sscanf(line, "%32s %x %32s %x %32s %x %x %x %x %15s", dst, &dlen, src, &slen, gw, &metric, &ref,
                           &use, &flags, ifname) != 10 ||
                    dlen != 0 || strcmp(gw, "00000000000000000000000000000000") == 0 || strcmp(ifname, "lo") == 0)
                        continue;
                struct in6_addr a;
                for (int i = 0; i < 16; i++) {
                        unsigned b;
                        sscanf(gw + 2 * i, "%2x", &b);
                        a.s6_addr[i] = (uint8_t) b;
                }
                snprintf(ifs[n], IF_NAMESIZE, "%s", ifname);
                inet_ntop(AF_INET6, &a, gws[n], INET6_ADDRSTRLEN);
                n++;
        }
        return n;
}

/* The bearer interface: that of the first default route, else the first interface up that is not loopback. */
static bool bearer_interface(char ifname[static IF_NAMESIZE])
{
        char ifs[MAX_ROUTERS][IF_NAMESIZE], gws[MAX_ROUTERS][INET6_ADDRSTRLEN];
        size_t n = default_routes(ifs, gws, MAX_ROUTERS);
        n = default_routes6(ifs, gws, n, MAX_ROUTERS);
        if (n) {
                memcpy(ifname, ifs[0], IF_NAMESIZE);
                return true;
        }
        struct ifaddrs *list = NULL;
        if (getifaddrs(&list) < 0)
                return false;
        bool found = false;
        for (struct ifaddrs *a = list; a && !found; a = a->ifa_next)
                if ((a->ifa_flags & IFF_UP) && !(a->ifa_flags & IFF_LOOPBACK) && a->ifa_addr) {
                        snprintf(ifname, IF_NAMESIZE, "%s", a->ifa_name);
                        found = true;
                }
        freeifaddrs(list);
        return found;
}

/* "level" or "link" of a wireless interface in /proc/net/wireless. */
static bool wireless_value(const char *ifname, bool level, int *ret)
{
        _cleanup_free_ char *data = NULL;
        size_t len;
        if (alder_read_file("/proc/net/wireless", 1 << 16, &data, &len, NULL) < 0)
                return false;
        char *save = NULL;
        for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char name[IF_NAMESIZE + 2];
                unsigned status;
                float link, lvl;
                if (sscanf(line, " %17[^:]: %x %f %f", name, &status, &link, &lvl) == 4 && strcmp(name, ifname) == 0) {
                        *ret = (int) (level ? lvl : link);
                        return true;
                }
        }
        return false;
}

static int read_addresses(struct dmc_object *o, const char *ifname, uint16_t res, struct alder_lwm2m_records *out,
                          alder_error **err)
{
        struct ifaddrs *list = NULL;
        if (getifaddrs(&list) < 0)
                return alder_error_sys(err, errno, "getifaddrs");
        int r = 0, ri = 0;
        for (struct ifaddrs *a = list; r == 0 && a; a = a->ifa_next) {
                if (!a->ifa_addr || strcmp(a->ifa_name, ifname) != 0)
                        continue;
                char text[INET6_ADDRSTRLEN];
                if (a->ifa_addr->sa_family == AF_INET)
                        inet_ntop(AF_INET, &((struct sockaddr_in *) a->ifa_addr)->sin_addr, text, sizeof(text));
                else if (a->ifa_addr->sa_family == AF_INET6)
                        inet_ntop(AF_INET6, &((struct sockaddr_in6 *) a->ifa_addr)->sin6_addr, text, sizeof(text));
                else
                        continue;
                r = dmc_rec_string(out, o, 0, res, ri++, text, err);
        }
        freeifaddrs(list);
        return r;
}

static int read_available(struct dmc_object *o, const struct alder_lwm2m_resource_def *res,
                          struct alder_lwm2m_records *out, alder_error **err)
{
        struct if_nameindex *ifs = if_nameindex();
        if (!ifs)
                return alder_error_sys(err, errno, "if_nameindex");
        bool seen[2] = {false, false};
        int r = 0, ri = 0;
        for (struct if_nameindex *i = ifs; r == 0 && i->if_index; i++) {
                char path[64 + IF_NAMESIZE];
                _cleanup_free_ char *type = NULL;
                size_t len;
                snprintf(path, sizeof(path), "/sys/class/net/%s/type", i->if_name);
                /* ARPHRD_ETHER (1) links only: loopback, tunnels and the like are no bearers. */
                if (alder_read_file(path, 64, &type, &len, NULL) < 0 || atoi(type) != 1)
                        continue;
                int b = bearer_of(i->if_name);
                if (seen[b == BEARER_WLAN])
                        continue;
                seen[b == BEARER_WLAN] = true;
                r = dmc_rec_int(out, o, 0, res->id, ri++, ALDER_LWM2M_TYPE_INTEGER, b, err);
        }
        if_freenameindex(ifs);
        return r;
}

static int connmon_read(struct dmc_object *o, uint16_t inst, const struct alder_lwm2m_resource_def *res,
                        struct alder_lwm2m_records *out, alder_error **err)
{
        char ifname[IF_NAMESIZE];
        if (res->id == RES_AVAILABLE_BEARERS)
                return read_available(o, res, out, err);
        if (!bearer_interface(ifname))
                return alder_error_set(err, ENOENT, "no network interface is up");
        int v;
        switch (res->id) {
        case RES_BEARER:
                return dmc_rec_number(out, o, inst, res, bearer_of(ifname), err);
        case RES_SIGNAL:
        case RES_LINK_QUALITY:
                if (!wireless_value(ifname, res->id == RES_SIGNAL, &v))
                        return alder_error_set(err, ENOENT, "%s: the bearer %s has no radio", res->name, ifname);
                return dmc_rec_number(out, o, inst, res, v, err);
        case RES_IP_ADDRESSES:
                return read_addresses(o, ifname, res->id, out, err);
        case RES_ROUTERS: {
                char ifs[MAX_ROUTERS][IF_NAMESIZE], gws[MAX_ROUTERS][INET6_ADDRSTRLEN];
                size_t n = default_routes6(ifs, gws, default_routes(ifs, gws, MAX_ROUTERS), MAX_ROUTERS);
                for (size_t i = 0; i < n; i++) {
                        int r = dmc_rec_string(out, o, inst, res->id, (int) i, gws[i], err);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        }
        return alder_error_set(err, ENOENT, "not implemented");
}

static const struct dmc_object_ops connmon_ops = {
        .read = connmon_read,
        .free = dmc_object_free_plain,
};

int dmc_obj_connmon_add(struct dmc *d, alder_error **err)
{
        static const uint16_t implemented[] = {RES_BEARER,       RES_AVAILABLE_BEARERS, RES_SIGNAL,
                                               RES_LINK_QUALITY, RES_IP_ADDRESSES,      RES_ROUTERS};
        static const uint16_t inst[] = {0};
        return dmc_object_new(d, 4, &connmon_ops, implemented, ALDER_ARRAY_SIZE(implemented), 0, inst, 1, NULL, err);
}
