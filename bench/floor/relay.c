/*
 * bench/floor/relay.c — the least a FastCGI gateway can do per request, as a
 * yardstick for bench/floor.sh (issue #5). NOT a gateway: no timeouts, no
 * health, no request bodies, no pipelining, no error pages, no limits.
 *
 *   floor_relay LISTEN_PORT THREADS WORKER_PORT...
 *
 * THREADS threads, each with its own epoll and its own SO_REUSEPORT listener
 * on 127.0.0.1:LISTEN_PORT (what fcgimux's `threads` does). Each client
 * connection gets one FastCGI connection of its own (FCGI_KEEP_CONN), to the
 * workers in turn, opened at its first request and kept for its life: no
 * pool, no balancing decision, no idle bookkeeping. Per request it makes the
 * system calls every gateway must make and no other:
 *   read(client)    the request head (one read: wrk's GETs are small)
 *   write(worker)   BEGIN_REQUEST + PARAMS + empty PARAMS + empty STDIN
 *   read(worker)    STDOUT records up to END_REQUEST (usually one read)
 *   write(client)   status line, the CGI headers, Content-Length, the body
 * plus its share of epoll_wait. Level-triggered epoll, as libuv uses it.
 * Its CPU per request is therefore the floor under any gateway on this
 * machine: the kernel's cost of those four calls (the loopback writer runs
 * the reader's receive path and wakes it) with almost no user work on top.
 *
 * With FLOOR_RING=1 in the environment the writes of each epoll batch are
 * held and handed to the kernel together in one io_uring_enter, as fcgimux
 * does with `io_uring = true`: the floor of that way of writing.
 *
 * The request is parsed only as far as the request line; the response only
 * as far as a Status header. Anything it does not expect (a body, a
 * pipelined request, a partial write) closes the client connection.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum { BUF = 16384, MAX_WORKERS = 16, EVENTS = 256 };

static int listen_port;
static int worker_ports[MAX_WORKERS];
static int worker_count;

struct conn;

/* What an epoll event points at: one side of a relayed conversation. */
struct side {
    struct conn *conn;
    int fd;
    int is_worker;
};

struct conn {
    struct side client, worker;
    struct conn *next_closed; /* on the thread's list of conns to free */
    int closed;
    size_t pending_len;       /* bytes of out[] to write at the batch's end (FLOOR_RING) */
    int pending_fd;
    struct conn *next_pending;
    size_t in_len;      /* bytes of the request head read so far */
    size_t up_len;      /* bytes of worker records read so far */
    char in[BUF];
    char up[BUF];
    char out[BUF];
};

/* A minimal io_uring submission ring (FLOOR_RING=1). */
struct ring {
    int fd;
    unsigned *sq_head, *sq_tail, *sq_mask, *sq_array;
    unsigned *cq_head, *cq_tail, *cq_mask;
    struct io_uring_sqe *sqes;
    struct io_uring_cqe *cqes;
};

struct thread {
    int epfd;
    int listen_fd;
    unsigned next_worker;
    struct conn *closed; /* freed after the epoll batch: it may still name them */
    struct conn *pending; /* writes held to the batch's end (FLOOR_RING=1) */
    struct ring ring;     /* FLOOR_RING=1 */
};

/* FLOOR_RING=1 in the environment: hold every write until the epoll batch
 * has been handled, then hand them all to the kernel in one io_uring_enter
 * (what fcgimux's `io_uring = true` does). The woken readers then preempt
 * the relay once per batch instead of once per write. */
static int use_uring;

static int ring_init(struct ring *r)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER;
    r->fd = (int)syscall(__NR_io_uring_setup, 512, &p);
    if (r->fd < 0)
        return -1;
    size_t sq_size = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cq_size = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    size_t size = sq_size > cq_size ? sq_size : cq_size;
    char *sq = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
    if (sq == MAP_FAILED)
        return -1;
    char *cq = sq; /* IORING_FEAT_SINGLE_MMAP (5.4+) */
    r->sq_head = (unsigned *)(sq + p.sq_off.head);
    r->sq_tail = (unsigned *)(sq + p.sq_off.tail);
    r->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
    r->sq_array = (unsigned *)(sq + p.sq_off.array);
    r->cq_head = (unsigned *)(cq + p.cq_off.head);
    r->cq_tail = (unsigned *)(cq + p.cq_off.tail);
    r->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
    r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
    r->sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
    return r->sqes == MAP_FAILED ? -1 : 0;
}
static struct thread *current_thread(void);

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static void close_conn(struct thread *t, struct conn *c)
{
    epoll_ctl(t->epfd, EPOLL_CTL_DEL, c->client.fd, NULL);
    close(c->client.fd);
    if (c->worker.fd >= 0) {
        epoll_ctl(t->epfd, EPOLL_CTL_DEL, c->worker.fd, NULL);
        close(c->worker.fd);
    }
    c->closed = 1;
    c->next_closed = t->closed;
    t->closed = c;
}

static int connect_worker(struct thread *t, struct conn *c)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_port = htons((uint16_t)worker_ports[t->next_worker++ % (unsigned)worker_count]);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    /* Blocking connect, once per client connection (loopback: immediate). */
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->worker.fd = fd;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &c->worker};
    return epoll_ctl(t->epfd, EPOLL_CTL_ADD, fd, &ev);
}

static size_t put_record_header(char *p, int type, size_t content)
{
    p[0] = 1;
    p[1] = (char)type;
    p[2] = 0;
    p[3] = 1; /* request id 1: one request at a time per connection */
    p[4] = (char)(content >> 8);
    p[5] = (char)content;
    p[6] = 0;
    p[7] = 0;
    return 8;
}

static size_t put_pair(char *p, const char *name, const char *value, size_t value_len)
{
    size_t n = strlen(name);
    /* every name and value here is under 128 bytes: one-byte lengths */
    p[0] = (char)n;
    p[1] = (char)value_len;
    memcpy(p + 2, name, n);
    memcpy(p + 2 + n, value, value_len);
    return 2 + n + value_len;
}

static __thread struct thread *this_thread;
static struct thread *current_thread(void) { return this_thread; }

static int send_or_hold(struct conn *c, int fd, size_t len)
{
    if (!use_uring)
        return write(fd, c->out, len) == (ssize_t)len ? 0 : -1;
    struct thread *t = current_thread();
    c->pending_fd = fd;
    c->pending_len = len;
    c->next_pending = t->pending;
    t->pending = c;
    return 0;
}

/* The request head is complete in c->in: send it to the worker. */
static int forward_request(struct thread *t, struct conn *c, size_t head_len)
{
    if (head_len != c->in_len)
        return -1; /* a body or a pipelined request: not what a floor measures */
    const char *method = c->in;
    const char *sp1 = memchr(c->in, ' ', head_len);
    if (!sp1)
        return -1;
    const char *target = sp1 + 1;
    const char *sp2 = memchr(target, ' ', head_len - (size_t)(target - c->in));
    if (!sp2 || sp2 - target > 120 || sp1 - method > 16)
        return -1;
    const char *q = memchr(target, '?', (size_t)(sp2 - target));
    const char *path_end = q ? q : sp2;

    char *p = c->out;
    p += put_record_header(p, 1, 8); /* BEGIN_REQUEST: responder, keep conn */
    memcpy(p, "\0\1\1\0\0\0\0\0", 8);
    p += 8;
    char *params = p;
    p += 8;
    char *pairs = p;
    p += put_pair(p, "REQUEST_METHOD", method, (size_t)(sp1 - method));
    p += put_pair(p, "REQUEST_URI", target, (size_t)(sp2 - target));
    p += put_pair(p, "SCRIPT_NAME", "", 0);
    p += put_pair(p, "PATH_INFO", target, (size_t)(path_end - target));
    p += put_pair(p, "QUERY_STRING", q ? q + 1 : "", q ? (size_t)(sp2 - q - 1) : 0);
    p += put_pair(p, "SERVER_PROTOCOL", "HTTP/1.1", 8);
    p += put_pair(p, "GATEWAY_INTERFACE", "CGI/1.1", 7);
    size_t plen = (size_t)(p - pairs);
    size_t pad = (8 - plen % 8) % 8;
    memset(p, 0, pad);
    p += pad;
    put_record_header(params, 4, plen);
    params[6] = (char)pad;
    p += put_record_header(p, 4, 0); /* end of PARAMS */
    p += put_record_header(p, 5, 0); /* empty STDIN */

    if (c->worker.fd < 0 && connect_worker(t, c) != 0)
        return -1;
    size_t len = (size_t)(p - c->out);
    c->in_len = 0;
    c->up_len = 0;
    return send_or_hold(c, c->worker.fd, len);
}

static void on_client_readable(struct thread *t, struct conn *c)
{
    ssize_t n = read(c->client.fd, c->in + c->in_len, BUF - c->in_len);
    if (n <= 0) {
        if (n < 0 && errno == EAGAIN)
            return;
        close_conn(t, c);
        return;
    }
    c->in_len += (size_t)n;
    char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (!end) {
        if (c->in_len == BUF)
            close_conn(t, c);
        return;
    }
    if (forward_request(t, c, (size_t)(end + 4 - c->in)) != 0)
        close_conn(t, c);
}

/*
 * Walks the records in c->up; on END_REQUEST answers the client from the
 * STDOUT bytes, gathered in place at the front of c->up. Returns 1 when
 * answered, 0 when more bytes are needed, -1 on anything unexpected.
 */
static int answer_if_complete(struct thread *t, struct conn *c)
{
    (void)t;
    size_t at = 0, stdout_len = 0;
    for (;;) {
        if (c->up_len - at < 8)
            return 0;
        const unsigned char *h = (const unsigned char *)c->up + at;
        size_t content = (size_t)h[4] << 8 | h[5];
        size_t total = 8 + content + h[6];
        if (c->up_len - at < total)
            return 0;
        if (h[1] == 6) { /* STDOUT */
            memmove(c->up + stdout_len, c->up + at + 8, content);
            stdout_len += content;
        } else if (h[1] == 3) { /* END_REQUEST */
            break;
        } else if (h[1] != 7) { /* STDERR ignored; anything else is not expected */
            return -1;
        }
        at += total;
    }
    if (at + 16 != c->up_len)
        return -1; /* bytes after END_REQUEST: not one request at a time */

    char *sep = memmem(c->up, stdout_len, "\r\n\r\n", 4);
    size_t sep_len = 4;
    if (!sep) {
        sep = memmem(c->up, stdout_len, "\n\n", 2);
        sep_len = 2;
    }
    if (!sep)
        return -1;
    size_t headers_len = (size_t)(sep - c->up);
    const char *body = sep + sep_len;
    size_t body_len = stdout_len - headers_len - sep_len;
    if (headers_len + body_len + 96 > BUF)
        return -1; /* room for the status line, CRLFs and Content-Length */

    /* Status line from a Status header (else 200); the other CGI header
     * lines copied as they are; Content-Length added if the worker gave none. */
    char *o = c->out + 32; /* the status line goes in front once known */
    int status = 200, has_length = 0;
    const char *line = c->up, *headers_end = c->up + headers_len;
    while (line < headers_end) {
        const char *eol = memchr(line, '\n', (size_t)(headers_end - line));
        if (!eol)
            eol = headers_end;
        size_t len = (size_t)(eol - line);
        if (len && line[len - 1] == '\r')
            len--;
        if (len >= 7 && strncasecmp(line, "Status:", 7) == 0) {
            status = atoi(line + 7);
        } else if (len) {
            if (len >= 15 && strncasecmp(line, "Content-Length:", 15) == 0)
                has_length = 1;
            memcpy(o, line, len);
            memcpy(o + len, "\r\n", 2);
            o += len + 2;
        }
        line = eol + 1;
    }
    if (!has_length)
        o += sprintf(o, "Content-Length: %zu\r\n", body_len);
    memcpy(o, "\r\n", 2);
    o += 2;
    char status_line[32];
    int sl = snprintf(status_line, sizeof status_line, "HTTP/1.1 %d %s\r\n", status, status == 200 ? "OK" : "X");
    char *start = c->out + 32 - sl;
    memcpy(start, status_line, (size_t)sl);
    int n = (int)(o - start);
    memmove(c->out, start, (size_t)n);
    memcpy(c->out + n, body, body_len);
    size_t len = (size_t)n + body_len;
    c->up_len = 0;
    return send_or_hold(c, c->client.fd, len) == 0 ? 1 : -1;
}

static void on_worker_readable(struct thread *t, struct conn *c)
{
    ssize_t n = read(c->worker.fd, c->up + c->up_len, BUF - c->up_len);
    if (n <= 0) {
        if (n < 0 && errno == EAGAIN)
            return;
        close_conn(t, c);
        return;
    }
    c->up_len += (size_t)n;
    if (answer_if_complete(t, c) < 0)
        close_conn(t, c);
}

static void on_accept(struct thread *t)
{
    for (;;) {
        int fd = accept4(t->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = malloc(sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->client = (struct side){c, fd, 0};
        c->worker = (struct side){c, -1, 1};
        c->in_len = c->up_len = 0;
        c->closed = 0;
        c->next_closed = NULL;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &c->client};
        if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            close(fd);
            free(c);
        }
    }
}

static void *run(void *arg)
{
    struct thread *t = arg;
    struct epoll_event events[EVENTS];
    this_thread = t;
    /* IORING_SETUP_SINGLE_ISSUER: the ring belongs to the thread that made it */
    if (use_uring && ring_init(&t->ring) != 0)
        die("io_uring_setup");
    for (;;) {
        int n = epoll_wait(t->epfd, events, EVENTS, -1);
        for (int i = 0; i < n; i++) {
            if (events[i].data.ptr == NULL) {
                on_accept(t);
                continue;
            }
            struct side *s = events[i].data.ptr;
            if (s->conn->closed)
                continue;
            if (s->is_worker)
                on_worker_readable(t, s->conn);
            else
                on_client_readable(t, s->conn);
        }
        if (use_uring && t->pending) {
            struct ring *r = &t->ring;
            unsigned tail = *r->sq_tail, queued = 0;
            for (struct conn *c = t->pending; c; c = c->next_pending) {
                if (c->closed)
                    continue;
                unsigned idx = tail & *r->sq_mask;
                struct io_uring_sqe *sqe = &r->sqes[idx];
                memset(sqe, 0, sizeof *sqe);
                sqe->opcode = IORING_OP_SEND;
                sqe->fd = c->pending_fd;
                sqe->addr = (unsigned long)c->out;
                sqe->len = (unsigned)c->pending_len;
                sqe->msg_flags = MSG_DONTWAIT | MSG_NOSIGNAL;
                sqe->user_data = (unsigned long)c;
                r->sq_array[idx] = idx;
                tail++;
                queued++;
            }
            __atomic_store_n(r->sq_tail, tail, __ATOMIC_RELEASE);
            t->pending = NULL;
            if (queued && syscall(__NR_io_uring_enter, r->fd, queued, 0, 0, NULL, 0) < 0)
                die("io_uring_enter");
            unsigned head = *r->cq_head;
            while (head != __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE)) {
                struct io_uring_cqe *cqe = &r->cqes[head & *r->cq_mask];
                struct conn *c = (struct conn *)(unsigned long)cqe->user_data;
                if (cqe->res != (int)c->pending_len && !c->closed)
                    close_conn(t, c);
                head++;
            }
            __atomic_store_n(r->cq_head, head, __ATOMIC_RELEASE);
        }
        while (t->pending) {
            struct conn *c = t->pending;
            t->pending = c->next_pending;
            if (!c->closed && write(c->pending_fd, c->out, c->pending_len) != (ssize_t)c->pending_len)
                close_conn(t, c);
        }
        while (t->closed) {
            struct conn *c = t->closed;
            t->closed = c->next_closed;
            free(c);
        }
    }
    return NULL;
}

static int listen_socket(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket");
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_port = htons((uint16_t)listen_port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0)
        die("bind");
    if (listen(fd, 4096) != 0)
        die("listen");
    return fd;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s LISTEN_PORT THREADS WORKER_PORT...\n", argv[0]);
        return 2;
    }
    listen_port = atoi(argv[1]);
    int threads = atoi(argv[2]);
    for (int i = 3; i < argc && worker_count < MAX_WORKERS; i++)
        worker_ports[worker_count++] = atoi(argv[i]);
    if (threads < 1 || listen_port <= 0 || worker_count == 0)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    use_uring = getenv("FLOOR_RING") && atoi(getenv("FLOOR_RING"));
    pthread_t ids[64];
    for (int i = 0; i < threads && i < 64; i++) {
        struct thread *t = calloc(1, sizeof *t);
        t->epfd = epoll_create1(EPOLL_CLOEXEC);
        t->listen_fd = listen_socket();
        t->next_worker = (unsigned)i;

        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
        if (t->epfd < 0 || epoll_ctl(t->epfd, EPOLL_CTL_ADD, t->listen_fd, &ev) != 0)
            die("epoll");
        if (pthread_create(&ids[i], NULL, run, t) != 0)
            die("pthread_create");
    }
    pause(); /* SIGTERM ends the process */
    return 0;
}
