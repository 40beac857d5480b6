#!/usr/bin/env python3
"""Writes the seed corpora in tests/fuzz/corpus/<target>_fuzz/.

Run from anywhere: python3 tests/fuzz/make_corpus.py. Files are named after
what they hold, so rewriting them is idempotent. Inputs of the split targets
start with one control byte that picks how the rest is split (see
tests/fuzz/fuzz_support.h); the params and config targets take the input as is.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")

# FastCGI 1.0 record types.
BEGIN, ABORT, END, PARAMS, STDIN, STDOUT, STDERR, DATA, GETV, GETVR, UNKNOWN = range(1, 12)


def rec(typ, rid, content=b"", pad=None, version=1):
    if pad is None:
        pad = (8 - len(content) % 8) % 8
    return struct.pack(">BBHHBB", version, typ, rid, len(content), pad, 0) + content + b"P" * pad


def length(n, long=False):
    return struct.pack(">I", n | 0x80000000) if (n >= 128 or long) else bytes([n])


def pair(name, value, long=False):
    return length(len(name), long) + length(len(value), long) + name + value


def end_body(app, status):
    return struct.pack(">IB3x", app, status)


def begin_body(role, flags):
    return struct.pack(">HB5x", role, flags)


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def stream_parser():
    t = "fcgi_stream_parser_fuzz"
    head = b"Status: 200 OK\r\nContent-Type: text/html\r\n\r\n<p>hello</p>"
    write(t, "response_padded", b"\x07" + rec(STDOUT, 1, head) + rec(STDOUT, 1) + rec(END, 1, end_body(0, 0)))
    write(t, "response_pad255", b"\x13" + rec(STDOUT, 1, head, pad=255) + rec(STDOUT, 1, pad=3) + rec(END, 1, end_body(0xFFFFFFFF, 0)))
    write(t, "stderr_interleaved", b"\x41" + rec(STDERR, 1, b"warning: x\n") + rec(STDOUT, 1, b"Content-Type: text/plain\n\n")
          + rec(STDERR, 1, b"more\n") + rec(STDOUT, 1, b"body") + rec(STDERR, 1) + rec(STDOUT, 1) + rec(END, 1, end_body(1, 0)))
    write(t, "two_ids", b"\x05" + rec(STDOUT, 1, b"a") + rec(STDOUT, 0xFFFF, b"b") + rec(STDOUT, 1, b"c") + rec(END, 0xFFFF, end_body(0, 0))
          + rec(STDOUT, 1) + rec(END, 1, end_body(0, 0)))
    write(t, "get_values_result", b"\x02" + rec(GETVR, 0, pair(b"FCGI_MAX_CONNS", b"10") + pair(b"FCGI_MAX_REQS", b"50") + pair(b"FCGI_MPXS_CONNS", b"1")))
    write(t, "get_values_result_long_lengths", b"\x03" + rec(GETVR, 0, pair(b"FCGI_MPXS_CONNS", b"0", long=True)))
    write(t, "unknown_type", b"\x09" + rec(UNKNOWN, 0, bytes([200]) + b"\0" * 7))
    write(t, "skipped_types", b"\x11" + rec(12, 1, b"future") + rec(0, 0, b"") + rec(255, 7, b"x" * 20, pad=1) + rec(STDOUT, 1, b"ok") + rec(END, 1, end_body(0, 0)))
    write(t, "end_request_statuses", b"\x21" + b"".join(rec(END, i + 1, end_body(i, i)) for i in range(6)))
    write(t, "bad_version", b"\x01" + rec(STDOUT, 1, b"x", version=0))
    write(t, "begin_from_worker", b"\x01" + rec(BEGIN, 1, begin_body(1, 0)))
    write(t, "stdout_on_id0", b"\x01" + rec(STDOUT, 0, b"x"))
    write(t, "end_request_short", b"\x01" + rec(STDOUT, 1, b"x") + rec(END, 1, b"\0" * 5))
    write(t, "get_values_result_truncated", b"\x06" + rec(GETVR, 0, b"\x0e\x02FCGI_MAX"))
    write(t, "truncated_mid_record", b"\x0b" + rec(STDOUT, 1, b"abcdefgh")[:-3])
    write(t, "big_record", b"\x3f" + rec(STDOUT, 2, b"x" * 3000) + rec(END, 2, end_body(0, 0)))


def params():
    t = "fcgi_params_fuzz"
    cgi = [(b"SCRIPT_NAME", b"/app"), (b"PATH_INFO", b"/hello world/"), (b"REQUEST_METHOD", b"GET"),
           (b"QUERY_STRING", b""), (b"HTTP_COOKIE", b"a=1; b=2"), (b"CONTENT_LENGTH", b"0")]
    write(t, "cgi_request", b"".join(pair(n, v) for n, v in cgi))
    write(t, "name127_value128", pair(b"N" * 127, b"v" * 128))
    write(t, "value_200", pair(b"HTTP_USER_AGENT", b"Mozilla/5.0 " * 16 + b"x" * 8))
    write(t, "non_canonical_long_lengths", pair(b"A", b"B", long=True) + pair(b"", b""))
    write(t, "empty_name_and_value", pair(b"", b"") + pair(b"X", b""))
    write(t, "truncated_value", pair(b"NAME", b"value")[:-2])
    write(t, "truncated_length", b"\x80\x00")
    write(t, "huge_length", b"\xff\xff\xff\xff\x01AB")
    write(t, "length_just_over_64", length(65) + b"\x01" + b"n" * 65 + b"v")
    write(t, "binary", pair(b"\x00\xff\r\n", b"\x00\x00"))


def request_parser():
    t = "fcgi_request_parser_fuzz"
    ps = b"".join(pair(n, v) for n, v in [(b"SCRIPT_NAME", b""), (b"PATH_INFO", b"/x"), (b"REQUEST_METHOD", b"POST"), (b"CONTENT_LENGTH", b"5")])
    write(t, "responder_post", b"\x07" + rec(BEGIN, 1, begin_body(1, 1)) + rec(PARAMS, 1, ps) + rec(PARAMS, 1)
          + rec(STDIN, 1, b"hello") + rec(STDIN, 1))
    split = pair(b"HTTP_HOST", b"example.com") + pair(b"X" * 130, b"y" * 3)
    write(t, "pair_straddles_records", b"\x03" + rec(BEGIN, 2, begin_body(1, 0)) + rec(PARAMS, 2, split[:5]) + rec(PARAMS, 2, split[5:20])
          + rec(PARAMS, 2, split[20:]) + rec(PARAMS, 2) + rec(STDIN, 2))
    write(t, "multiplexed", b"\x0d" + rec(BEGIN, 1, begin_body(1, 1)) + rec(BEGIN, 2, begin_body(1, 1)) + rec(PARAMS, 2, pair(b"A", b"2"))
          + rec(PARAMS, 1, pair(b"A", b"1")) + rec(PARAMS, 1) + rec(PARAMS, 2) + rec(STDIN, 2, b"two") + rec(STDIN, 1) + rec(STDIN, 2) + rec(ABORT, 1))
    write(t, "filter_role", b"\x22" + rec(BEGIN, 3, begin_body(3, 0)) + rec(PARAMS, 3) + rec(STDIN, 3) + rec(DATA, 3, b"file data") + rec(DATA, 3))
    write(t, "authorizer_unknown_role", b"\x05" + rec(BEGIN, 4, begin_body(2, 0)) + rec(BEGIN, 5, begin_body(9, 0)) + rec(PARAMS, 4) + rec(PARAMS, 5))
    write(t, "get_values", b"\x01" + rec(GETV, 0, pair(b"FCGI_MAX_CONNS", b"") + pair(b"FCGI_MAX_REQS", b"") + pair(b"FCGI_MPXS_CONNS", b"")))
    write(t, "unknown_management", b"\x01" + rec(42, 0, b"??") + rec(12, 9, b"skipped"))
    write(t, "params_without_begin", b"\x01" + rec(PARAMS, 7, pair(b"A", b"B")))
    write(t, "begin_twice", b"\x01" + rec(BEGIN, 1, begin_body(1, 0)) + rec(BEGIN, 1, begin_body(1, 0)))
    write(t, "params_end_mid_pair", b"\x02" + rec(BEGIN, 1, begin_body(1, 0)) + rec(PARAMS, 1, pair(b"NAME", b"VALUE")[:4]) + rec(PARAMS, 1))
    write(t, "long_param_after_short", b"\x04" + rec(BEGIN, 1, begin_body(1, 0)) + rec(PARAMS, 1, pair(b"A", b"1") + pair(b"B" * 100, b"2")) + rec(PARAMS, 1))
    write(t, "stdout_to_worker", b"\x01" + rec(STDOUT, 1, b"x"))
    write(t, "begin_bad_length", b"\x01" + rec(BEGIN, 1, b"\0\1\0"))


def cgi_response():
    t = "cgi_response_fuzz"
    cases = {
        "status_reason": b"Status: 404 Not Found\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<h1>404</h1>",
        "lf_only": b"Content-Type: text/plain\nX-Worker: 9001\n\nbody",
        "location_redirect": b"Location: /login?next=%2F\r\n\r\n",
        "location_with_status": b"Status: 301 Moved\r\nLocation: http://example.com/\r\nLocation: /second\r\n\r\n",
        "set_cookie_repeated": b"Set-Cookie: a=1; Path=/\r\nSet-Cookie: b=2; HttpOnly\r\nContent-Length: 4\r\n\r\nbody",
        "content_length_same_twice": b"Content-Length: 007\r\ncontent-length: 7\r\n\r\n1234567",
        "content_length_conflict": b"Content-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "content_length_not_digits": b"Content-Length: 5, 5\r\n\r\n",
        "content_length_overflow": b"Content-Length: 99999999999999999999999\r\n\r\n",
        "status_twice": b"Status: 200 OK\r\nStatus: 500 Oops\r\n\r\n",
        "status_bad": b"Status: 20x\r\n\r\n",
        "status_099": b"Status: 099 Low\r\n\r\n",
        "status_999_tab_reason": b"Status: 999\tWeird  \r\n\r\n",
        "folded_line": b"X-A: 1\r\n  continued\r\n\r\n",
        "space_before_colon": b"X-A : 1\r\n\r\n",
        "cr_in_value": b"X-A: 1\rInjected: yes\r\n\r\n",
        "nul_in_value": b"X-A: a\x00b\r\n\r\n",
        "no_colon": b"just text\r\n\r\n",
        "empty_value": b"X-Empty:\r\nX-Spaces:    \r\n\r\n",
        "body_looks_like_head": b"\r\nStatus: 500 Injected\r\n\r\n",
        "incomplete": b"Content-Type: text/html\r\n",
        "long_header": b"X-Long: " + b"a" * 200 + b"\r\n\r\n",
        "php_style": b"X-Powered-By: PHP/8.2.7\r\nContent-type: text/html; charset=UTF-8\r\n\r\n<?php ?>",
    }
    for i, (name, data) in enumerate(cases.items()):
        write(t, name, bytes([(i * 37 + 1) % 256]) + data)


def http_request():
    t = "http_request_fuzz"
    cases = {
        "get_simple": b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
        "get_app_query": b"GET /app/hello%20world/?x=%41 HTTP/1.1\r\nHost: example.com:8080\r\nUser-Agent: curl/7.88\r\nAccept: */*\r\n\r\n",
        "php_path_info": b"GET /php/index.php/foo/bar?x=1 HTTP/1.1\r\nHost: h\r\n\r\n",
        "php_front_controller": b"GET /php/blog/post HTTP/1.1\r\nHost: h\r\n\r\n",
        "scripted_route": b"GET /scripted/a/./b/../c HTTP/1.1\r\nHost: h\r\n\r\n",
        "post_content_length": b"POST /app/form HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\n\r\na=1&b=2",
        "post_chunked_ext_trailer": b"POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;a=1;b=\"x\"\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
        "pipelined": b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nPOST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET /3 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        "http10_keepalive": b"GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /old2 HTTP/1.0\r\n\r\n",
        "absolute_form": b"GET http://other.example:81/app/x?q HTTP/1.1\r\nHost: ignored\r\n\r\n",
        "options_star": b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
        "expect_continue": b"PUT /app/f HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok",
        "cookies_and_repeats": b"GET / HTTP/1.1\r\nHost: h\r\nCookie: a=1\r\nCookie: b=2\r\nAccept: a\r\nAccept: b\r\n\r\n",
        "underscore_header_spoof": b"GET / HTTP/1.1\r\nHost: h\r\nX_Forwarded_For: 6.6.6.6\r\nX-Forwarded-For: 1.2.3.4\r\nProxy: http://evil\r\n\r\n",
        "path_nul": b"GET /a%00b HTTP/1.1\r\nHost: h\r\n\r\n",
        "path_climb": b"GET /app/../../etc/passwd HTTP/1.1\r\nHost: h\r\n\r\n",
        "path_encoded_dots": b"GET /app/%2e%2e/%2E%2e/x HTTP/1.1\r\nHost: h\r\n\r\n",
        "path_encoded_slash": b"GET /app%2fx//y HTTP/1.1\r\nHost: h\r\n\r\n",
        "path_bad_escape": b"GET /%zz HTTP/1.1\r\nHost: h\r\n\r\n",
        # Request smuggling attempts: each must be refused, the same way for any split.
        "smuggle_cl_te": b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: h\r\n\r\n",
        "smuggle_te_cl": b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 30\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\n\r\n",
        "smuggle_dup_cl": b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\nhello",
        "smuggle_te_chunked_twice": b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
        "smuggle_te_obsfold": b"POST / HTTP/1.1\r\nHost: h\r\nX: y\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "smuggle_te_space_colon": b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
        "smuggle_te_xchunked": b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
        "smuggle_te_http10": b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "smuggle_bare_lf": b"GET / HTTP/1.1\nHost: h\n\n",
        "smuggle_bare_cr": b"GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n",
        "smuggle_chunk_lf_only": b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n",
        "smuggle_chunk_no_crlf": b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
        "smuggle_chunk_size_overflow": b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n0\r\n\r\n",
        "smuggle_chunk_0x": b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
        "smuggle_cl_plus": b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\nhello",
        "smuggle_cl_list": b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\nhello",
        "smuggle_nul_header": b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n",
        "two_hosts": b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "no_host_11": b"GET / HTTP/1.1\r\n\r\n",
        "connect": b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n",
        "upgrade_h2c": b"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
        "head_too_large": b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + b"a" * 1100 + b"\r\n\r\n",
        "body_too_large": b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5000\r\n\r\n",
        "leading_empty_lines": b"\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
        "fragment": b"GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n",
        "http2_preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        "truncated_body": b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc",
    }
    for i, (name, data) in enumerate(cases.items()):
        write(t, name, bytes([(i * 53 + 3) % 256]) + data)


def config():
    t = "config_fuzz"
    with open(os.path.join(HERE, "..", "..", "conf", "fcgimux.toml"), "rb") as f:
        write(t, "conf_fcgimux_toml", f.read())
    write(t, "minimal", b'[[route]]\nprefix = "/"\npool = "django"\n\n[pools.django]\nworkers = ["127.0.0.1:9001"]\n')
    write(t, "full_pool", b'''[server]
listen = ["127.0.0.1:0", "[::1]:8080"]
threads = 2
max_header_size = "64KiB"
max_body_size = 33554432
header_timeout = "1m30s"
log_level = "debug"

[[route]]
prefix = "/app/"
pool = "django"
script_name = "/app"

[[route]]
prefix = "/"
pool = "php"
document_root = "/srv/www/site"
index = "index.php"
params = { HTTPS = "on", SERVER_NAME = "example.com" }

[pools.django]
workers = ["127.0.0.1:9001", { address = "127.0.0.1:9002", weight = 2 }, "[::1]:9003"]
balance = "round-robin"
connect_timeout = "250ms"
response_timeout = "30s"
disable_time = "1.5s"
max_disable_time = "2m"
retry = "never"
multiplex = "off"
max_conns = 4

[pools.php]
workers = ["localhost:9000"]
balance = "sticky"
''')
    write(t, "unknown_keys", b'[server]\nlisten = ["127.0.0.1:8080"]\nthreds = 2\n\n[[route]]\nprefix = "/"\npool = "p"\n\n[pools.p]\nworkers = ["127.0.0.1:1"]\nresponse_timout = "1s"\n')
    write(t, "bad_values", b'[server]\nmax_body_size = "32 furlongs"\nheader_timeout = 5\n\n[[route]]\nprefix = "app"\npool = "missing"\n\n[pools.p]\nworkers = ["nohost", "1.2.3.4:99999", "[::1:80", "a:b:c"]\nbalance = "random"\ndisable_time = "-1s"\n')
    write(t, "duplicate_prefixes", b'[[route]]\nprefix = "/a"\npool = "p"\n[[route]]\nprefix = "/a/"\npool = "p"\n[pools.p]\nworkers = []\n')
    write(t, "syntax_error", b'[server\nlisten = "x"\n')
    write(t, "syntax_error_string", b'[[route]]\nprefix = "/\n')
    write(t, "wrong_types", b'server = 1\nroute = "x"\npools = []\n')
    write(t, "empty", b"")
    write(t, "unicode_keys", '[pools."d\u00e9j\u00e0"]\nworkers = ["127.0.0.1:1"]\n[[route]]\nprefix = "/\u00e9"\npool = "d\u00e9j\u00e0"\n'.encode())


if __name__ == "__main__":
    stream_parser()
    params()
    request_parser()
    cgi_response()
    http_request()
    config()
