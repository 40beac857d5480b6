/*
 * bench/latency/client.c — a closed-loop HTTP/1.1 keep-alive client that
 * times every request exactly, to check wrk's latency figures (issue #5).
 *
 *   latency_client PORT PATH CONNECTIONS SECONDS [SLOW_MS]
 *
 * CONNECTIONS keep-alive connections to 127.0.0.1:PORT, one request at a
 * time on each (GET PATH), for SECONDS. One thread, epoll. Every response
 * must carry Content-Length (the body is counted and skipped, not kept).
 * Prints one line of key=value pairs:
 *
 *   requests rps mean_ms p50_ms p90_ms p99_ms p999_ms max_ms in_flight
 *   slow non2xx errors lost
 *
 * in_flight is the sum of all latencies ÷ the run's length: how many
 * requests were outstanding on average, CONNECTIONS when the client kept
 * every connection busy. slow counts requests that took SLOW_MS (default
 * 100) or more; non2xx the responses (timed like the others) whose status
 * was not 2xx. errors counts connections that failed or broke the framing
 * (closed mid-response, bytes nobody asked for, no Content-Length): the
 * request on it is not timed, and a new connection takes its place; lost
 * counts the places no new connection could take. A response with
 * "Connection: close" is timed, and the next request goes on a new
 * connection, as wrk does. Requests still out when the time is up are not
 * timed (nor are they by wrk).
 *
 * Why not only wrk: wrk 4.1 corrects its latency histogram for coordinated
 * omission. After the run, for every recorded latency L of at least twice
 * the mean interval between requests on a connection (I: the run's length
 * ÷ the requests per connection), it adds samples L-I, L-2I, ... for as
 * long as they stay above I: the requests an open-loop client would have
 * sent while that one waited. At 10,000 requests/s over 8 connections
 * (I = 0.8 ms) one 300 ms stall becomes about 373 samples between 1 and
 * 300 ms; three of them, about 1,120 samples, move p99 of a 60,000-request
 * run from 2 ms to about 140 ms. That
 * is a fair figure for clients arriving at a fixed rate, but it measures
 * the rare longest stalls, not what the requests of the run waited; this
 * client reports those.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct conn {
    int fd;
    double sent_at;        /* µs, CLOCK_MONOTONIC; 0 when no request is out */
    char head[8192];       /* the response head being read */
    size_t head_len;
    long long body_left;   /* body bytes still to skip; -1 while reading the head */
    int status;            /* of the response being read */
    int closes;            /* it said "Connection: close" */
};

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static struct sockaddr_in target;
static char request[1024];
static int request_len;
static int epfd;

/* Sends the next request on c; 0 on success. A request this small fits
 * any socket buffer: one send. MSG_NOSIGNAL: a closed peer is an error
 * result, not SIGPIPE. */
static int send_request(struct conn *c)
{
    c->sent_at = now_us();
    return send(c->fd, request, (size_t)request_len, MSG_NOSIGNAL) == request_len ? 0 : -1;
}

/* Opens c->fd and sends the first request; 0 on success. */
static int open_conn(struct conn *c, int index)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* A blocking connect: the gateway is on loopback and already listening. */
    if (connect(c->fd, (struct sockaddr *)&target, sizeof target) != 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)index};
    epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
    c->head_len = 0;
    c->body_left = -1;
    return send_request(c);
}

static void close_conn(struct conn *c)
{
    if (c->fd >= 0) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->sent_at = 0;
}

/* The value of header NAME (with its colon) in a complete head, or NULL. */
static const char *header(const char *head, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, len) == 0) {
            const char *v = p + 2 + len;
            while (*v == ' ' || *v == '\t')
                v++;
            return v;
        }
    }
    return NULL;
}

static long errors, lost;
static double end_at;

/* The connection in slot INDEX failed: counted, closed, and replaced by a
 * new one while the run lasts (COUNT: whether this is an error, not a
 * close the server announced). */
static void replace_conn(struct conn *cs, int index, int count)
{
    if (count)
        errors++;
    close_conn(&cs[index]);
    if (now_us() < end_at && open_conn(&cs[index], index) != 0) {
        close_conn(&cs[index]);
        lost++;
    }
}

int main(int argc, char **argv)
{
    if (argc < 5 || argc > 6) {
        fprintf(stderr, "usage: %s PORT PATH CONNECTIONS SECONDS [SLOW_MS]\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    const char *path = argv[2];
    int nconn = atoi(argv[3]);
    double seconds = atof(argv[4]);
    double slow_us = (argc > 5 ? atof(argv[5]) : 100) * 1000;
    if (port <= 0 || port > 65535 || nconn < 1 || nconn > 10000 || seconds <= 0 || strlen(path) > 900) {
        fprintf(stderr, "%s: bad arguments\n", argv[0]);
        return 2;
    }
    request_len = snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", path, port);
    target.sin_family = AF_INET;
    target.sin_port = htons((uint16_t)port);
    target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    size_t cap = 1 << 20, n = 0;
    double *lat = malloc(cap * sizeof *lat);
    struct conn *cs = calloc((size_t)nconn, sizeof *cs);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (!lat || !cs || epfd < 0)
        return 1;
    long slow = 0, non2xx = 0;
    const double start = now_us(), end = start + seconds * 1e6;
    end_at = end;
    for (int i = 0; i < nconn; i++) {
        cs[i].fd = -1;
        if (open_conn(&cs[i], i) != 0) {
            fprintf(stderr, "%s: cannot connect to 127.0.0.1:%d: %s\n", argv[0], port, strerror(errno));
            return 1;
        }
    }
    while (now_us() < end) {
        struct epoll_event evs[64];
        int k = epoll_wait(epfd, evs, 64, 100);
        for (int j = 0; j < k; j++) {
            struct conn *c = &cs[evs[j].data.u32];
            char buf[65536];
            ssize_t got = read(c->fd, buf, sizeof buf);
            if (got < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            const int index = (int)evs[j].data.u32;
            if (got <= 0) {  /* closed or failed mid-request: an error, then a new connection */
                replace_conn(cs, index, 1);
                continue;
            }
            size_t off = 0;
            while (off < (size_t)got && c->fd >= 0) {
                if (c->body_left < 0) {  /* reading the head */
                    size_t take = (size_t)got - off;
                    if (take > sizeof c->head - 1 - c->head_len)
                        take = sizeof c->head - 1 - c->head_len;
                    memcpy(c->head + c->head_len, buf + off, take);
                    c->head_len += take;
                    c->head[c->head_len] = '\0';
                    char *blank = strstr(c->head, "\r\n\r\n");
                    if (!blank) {
                        off += take;
                        if (c->head_len == sizeof c->head - 1) {  /* no end of head in 8 KiB */
                            replace_conn(cs, index, 1);
                            break;  /* the rest of buf belongs to the connection replaced */
                        }
                        continue;
                    }
                    size_t head_bytes = (size_t)(blank + 4 - c->head);
                    off += take - (c->head_len - head_bytes);  /* what followed the head is body */
                    *blank = '\0';
                    const char *length = header(c->head, "content-length:");
                    const char *connection = header(c->head, "connection:");
                    c->status = atoi(c->head + 9);
                    c->closes = connection && strncasecmp(connection, "close", 5) == 0;
                    c->body_left = length ? atoll(length) : -1;
                    /* Not a response (bytes nobody asked for), or chunked or unframed: not for this client. */
                    if (strncmp(c->head, "HTTP/1.", 7) != 0 || c->head_len < 12 || c->body_left < 0) {
                        replace_conn(cs, index, 1);
                        break;
                    }
                }
                long long skip = (long long)((size_t)got - off) < c->body_left ? (long long)((size_t)got - off)
                                                                               : c->body_left;
                off += (size_t)skip;
                c->body_left -= skip;
                if (c->body_left > 0)
                    continue;
                /* A whole response. */
                double t = now_us(), l = t - c->sent_at;
                if (n == cap) {
                    double *more = realloc(lat, 2 * cap * sizeof *lat);
                    if (!more)
                        return 1;
                    lat = more;
                    cap *= 2;
                }
                lat[n++] = l;
                if (l >= slow_us)
                    slow++;
                if (c->status < 200 || c->status > 299)
                    non2xx++;
                c->head_len = 0;
                c->body_left = -1;
                if (off != (size_t)got) {  /* bytes past the response: nothing was asked for them */
                    replace_conn(cs, index, 1);
                    break;
                }
                if (c->closes)
                    replace_conn(cs, index, 0);
                else if (t < end && send_request(c) != 0)
                    replace_conn(cs, index, 1);
            }
        }
    }
    const double elapsed = (now_us() - start) / 1e6;
    if (n == 0) {
        printf("requests=0 errors=%ld lost=%ld\n", errors, lost);
        return 1;
    }
    qsort(lat, n, sizeof *lat, by_value);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += lat[i];
#define PCT(p) (lat[(size_t)((p) * (double)(n - 1))] / 1e3)
    printf("requests=%zu rps=%.1f mean_ms=%.3f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f "
           "in_flight=%.2f slow=%ld non2xx=%ld errors=%ld lost=%ld\n",
           n, n / elapsed, sum / n / 1e3, PCT(0.5), PCT(0.9), PCT(0.99), PCT(0.999), lat[n - 1] / 1e3,
           sum / 1e6 / elapsed, slow, non2xx, errors, lost);
    return 0;
}
