/*
 * libfcgi_responder: a small multi-threaded FastCGI responder on libfcgi,
 * the cheapest worker we have, so that a benchmark measures the gateway in
 * front of it rather than the application.
 *
 *   libfcgi_responder ADDRESS [THREADS] [NAME] [BACKLOG]
 *   libfcgi_responder 127.0.0.1:9001 64 fcgi-1
 *
 * ADDRESS is "127.0.0.1:PORT" (or ":PORT" for every interface). THREADS
 * (default 16) each accept and serve one connection at a time; a connection
 * kept open with FCGI_KEEP_CONN holds its thread until the client closes it,
 * so give at least as many threads as the gateways will open connections.
 * NAME (default "libfcgi-PID") is sent back in an X-Worker header.
 *
 * Answers, by the path of REQUEST_URI (falling back to SCRIPT_NAME+PATH_INFO):
 *   /hello          a short text/plain body with Content-Length
 *   /bytes?n=N      N bytes (default 1 MiB) with Content-Length
 *   /upload         reads the whole request body, answers its length
 *                   (/upload?ms=N: and waits N ms, max 600000, before answering)
 *   /sleep?ms=N     sleeps N milliseconds (max 600000), then answers
 *   /healthz        "ok"
 *   anything else   404
 * SIGTERM or SIGINT ends the process.
 *
 * With FCGI_RESPONDER_LOG=FILE in the environment, every request is appended
 * to FILE as it starts, one line each, written with a single write(2) so that
 * a SIGKILL loses nothing: "EPOCH_SECONDS.MICROS<TAB>METHOD<TAB>PATH<TAB>QUERY".
 * bench/faults/ uses it to see which worker got which request, and when.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

static int listen_fd = -1;
static int request_log_fd = -1; /* FCGI_RESPONDER_LOG, or -1 */
static const char *worker_name = NULL;
static char default_name[64];

/* 64 KiB of a repeating pattern, written again and again by /bytes. */
static char pattern[65536];

/* Copies the path of the request (no query) into out. */
static void request_path(FCGX_ParamArray envp, char *out, size_t size)
{
    const char *uri = FCGX_GetParam("REQUEST_URI", envp);
    if (uri && uri[0]) {
        size_t n = strcspn(uri, "?");
        if (n >= size)
            n = size - 1;
        memcpy(out, uri, n);
        out[n] = '\0';
        return;
    }
    const char *script = FCGX_GetParam("SCRIPT_NAME", envp);
    const char *info = FCGX_GetParam("PATH_INFO", envp);
    snprintf(out, size, "%s%s", script ? script : "", info ? info : "");
}

/* The value of NAME in QUERY_STRING as a number, or dflt. */
static long long query_number(FCGX_ParamArray envp, const char *name, long long dflt)
{
    const char *q = FCGX_GetParam("QUERY_STRING", envp);
    size_t len = strlen(name);
    while (q && *q) {
        if (strncmp(q, name, len) == 0 && q[len] == '=') {
            char *end;
            long long v = strtoll(q + len + 1, &end, 10);
            return end == q + len + 1 ? dflt : v;
        }
        q = strchr(q, '&');
        if (q)
            q++;
    }
    return dflt;
}

/* Writes a whole response. libfcgi's own FCGX_FPrintF knows no %zu or %lld,
 * so heads are formatted with snprintf. */
static void put_head(FCGX_Request *r, const char *status, const char *type, long long length)
{
    char head[512];
    int n = snprintf(head, sizeof head,
                     "Status: %s\r\nContent-Type: %s\r\nContent-Length: %lld\r\nX-Worker: %s\r\n\r\n",
                     status, type, length, worker_name);
    FCGX_PutStr(head, n < (int)sizeof head ? n : (int)sizeof head - 1, r->out);
}

static void reply_text(FCGX_Request *r, const char *status, const char *body)
{
    put_head(r, status, "text/plain", (long long)strlen(body));
    FCGX_PutS(body, r->out);
}

/* One line per request to FCGI_RESPONDER_LOG (see the top of this file). */
static void log_request(FCGX_Request *r, const char *path)
{
    if (request_log_fd < 0)
        return;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    const char *method = FCGX_GetParam("REQUEST_METHOD", r->envp);
    const char *query = FCGX_GetParam("QUERY_STRING", r->envp);
    char line[1400];
    int n = snprintf(line, sizeof line, "%lld.%06ld\t%s\t%.1000s\t%.200s\n", (long long)now.tv_sec,
                     now.tv_nsec / 1000, method ? method : "-", path, query ? query : "");
    if (n > (int)sizeof line - 1)
        n = (int)sizeof line - 1;
    if (write(request_log_fd, line, (size_t)n) < 0) {
        /* nothing useful to do: the log is a measurement aid */
    }
}

static void handle(FCGX_Request *r)
{
    char path[1024];
    char body[256];
    request_path(r->envp, path, sizeof path);
    log_request(r, path);

    if (strcmp(path, "/hello") == 0) {
        reply_text(r, "200 OK", "Hello from libfcgi\n");
    } else if (strcmp(path, "/bytes") == 0) {
        long long n = query_number(r->envp, "n", 1 << 20);
        if (n < 0)
            n = 0;
        put_head(r, "200 OK", "application/octet-stream", n);
        while (n > 0) {
            int chunk = n > (long long)sizeof pattern ? (int)sizeof pattern : (int)n;
            if (FCGX_PutStr(pattern, chunk, r->out) != chunk)
                break; /* the client went away */
            n -= chunk;
        }
    } else if (strcmp(path, "/upload") == 0) {
        char buf[16384];
        long long total = 0;
        int got;
        while ((got = FCGX_GetStr(buf, sizeof buf, r->in)) > 0)
            total += got;
        long long ms = query_number(r->envp, "ms", 0);
        if (ms > 600000)
            ms = 600000;
        if (ms > 0) {
            struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
            while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
            }
        }
        snprintf(body, sizeof body, "%lld\n", total);
        reply_text(r, "200 OK", body);
    } else if (strcmp(path, "/sleep") == 0) {
        long long ms = query_number(r->envp, "ms", 1000);
        if (ms < 0)
            ms = 0;
        if (ms > 600000)
            ms = 600000;
        struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
        snprintf(body, sizeof body, "slept %lld ms\n", ms);
        reply_text(r, "200 OK", body);
    } else if (strcmp(path, "/healthz") == 0) {
        reply_text(r, "200 OK", "ok\n");
    } else {
        reply_text(r, "404 Not Found", "not found\n");
    }
}

static void *serve(void *arg)
{
    (void)arg;
    FCGX_Request r;
    if (FCGX_InitRequest(&r, listen_fd, 0) != 0) {
        fprintf(stderr, "libfcgi_responder: FCGX_InitRequest failed\n");
        return NULL;
    }
    /* No lock around FCGX_Accept_r: on Linux concurrent accept() is safe,
     * and a lock would be held while a kept-alive connection waits for its
     * next request, stalling every other thread. */
    while (FCGX_Accept_r(&r) >= 0) {
        handle(&r);
        FCGX_Finish_r(&r);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 5) {
        fprintf(stderr, "usage: %s ADDRESS [THREADS] [NAME] [BACKLOG]\n", argv[0]);
        return 2;
    }
    int threads = argc > 2 ? atoi(argv[2]) : 16;
    if (threads < 1 || threads > 4096) {
        fprintf(stderr, "%s: THREADS must be 1..4096\n", argv[0]);
        return 2;
    }
    snprintf(default_name, sizeof default_name, "libfcgi-%d", (int)getpid());
    worker_name = argc > 3 && argv[3][0] ? argv[3] : default_name;
    int backlog = argc > 4 ? atoi(argv[4]) : 1024;

    for (size_t i = 0; i < sizeof pattern; i++)
        pattern[i] = (char)('a' + i % 26);
    signal(SIGPIPE, SIG_IGN);

    const char *log_path = getenv("FCGI_RESPONDER_LOG");
    if (log_path && log_path[0]) {
        request_log_fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (request_log_fd < 0) {
            fprintf(stderr, "%s: cannot open %s: %s\n", argv[0], log_path, strerror(errno));
            return 1;
        }
    }

    if (FCGX_Init() != 0) {
        fprintf(stderr, "%s: FCGX_Init failed\n", argv[0]);
        return 1;
    }
    listen_fd = FCGX_OpenSocket(argv[1], backlog);
    if (listen_fd < 0) {
        fprintf(stderr, "%s: cannot listen on %s\n", argv[0], argv[1]);
        return 1;
    }

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_t *ids = calloc((size_t)threads, sizeof *ids);
    if (!ids)
        return 1;
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&ids[i], &attr, serve, NULL) != 0) {
            fprintf(stderr, "%s: pthread_create failed\n", argv[0]);
            return 1;
        }
    }
    fprintf(stderr, "libfcgi_responder: %s on %s, %d threads\n", worker_name, argv[1], threads);
    for (int i = 0; i < threads; i++)
        pthread_join(ids[i], NULL);
    return 0;
}
