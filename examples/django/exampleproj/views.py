"""Views of the fcgimux example site. Every JSON answer names the worker that
produced it ("worker"), and every response carries an X-Worker header, so
tests can tell which FastCGI worker a request reached."""
import hashlib
import html
import json
import os
import time

from django.http import HttpResponse, HttpResponseRedirect, JsonResponse, StreamingHttpResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt


def worker_name():
    return os.environ.get("WORKER_NAME") or "pid-%d" % os.getpid()


class RequestLogMiddleware:
    """With FCGIMUX_EXAMPLE_REQUEST_LOG=FILE in the environment, appends one
    line per request to FILE as it starts, in one write(2) so that a SIGKILL
    loses nothing: "EPOCH_SECONDS.MICROS<TAB>METHOD<TAB>PATH<TAB>QUERY" (the
    format of examples/libfcgi's FCGI_RESPONDER_LOG). bench/faults/ uses it to
    see which worker got which request. Without it, Django drops this
    middleware at start-up."""

    def __init__(self, get_response):
        from django.core.exceptions import MiddlewareNotUsed

        path = os.environ.get("FCGIMUX_EXAMPLE_REQUEST_LOG")
        if not path:
            raise MiddlewareNotUsed()
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self.get_response = get_response

    def __call__(self, request):
        line = "%.6f\t%s\t%s\t%s\n" % (time.time(), request.method, request.path,
                                        request.META.get("QUERY_STRING", ""))
        os.write(self.fd, line.encode("utf-8", "replace"))
        return self.get_response(request)


class WorkerHeaderMiddleware:
    """Adds X-Worker: <WORKER_NAME> to every response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response["X-Worker"] = worker_name()
        return response


def _float_arg(request, name, default, lo, hi):
    try:
        value = float(request.GET.get(name, default))
    except ValueError:
        value = default
    return min(max(value, lo), hi)


def index(request):
    links = [
        ("env", "CGI variables as JSON"),
        ("env?x=1&y=%C3%A9", "... with a query"),
        ("big?mb=1", "1 MiB body"),
        ("stream", "streamed response"),
        ("cookies", "three Set-Cookie headers"),
        ("redirect", "302 to /env"),
        ("login?user=alice", "log in as alice"),
        ("whoami", "session user"),
        ("status/500", "the application's own 500"),
        ("sleep?s=1", "answer after one second"),
        ("healthz", "health check"),
    ]
    items = "\n".join(
        '    <li><a href="%s">%s</a></li>' % (html.escape(request.path.rstrip("/") + "/" + href), html.escape(text))
        for href, text in links
    )
    body = (
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>fcgimux example</title></head>\n"
        "<body>\n  <h1>Hello from Django behind fcgimux</h1>\n"
        "  <p>Answered by worker <b>%s</b>.</p>\n  <ul>\n%s\n  </ul>\n</body></html>\n"
    ) % (html.escape(worker_name()), items)
    return HttpResponse(body, content_type="text/html; charset=utf-8")


CGI_KEYS = (
    "SCRIPT_NAME",
    "PATH_INFO",
    "QUERY_STRING",
    "REQUEST_URI",
    "REQUEST_METHOD",
    "CONTENT_TYPE",
    "CONTENT_LENGTH",
    "SERVER_NAME",
    "SERVER_PORT",
    "SERVER_PROTOCOL",
    "SERVER_SOFTWARE",
    "GATEWAY_INTERFACE",
    "REMOTE_ADDR",
    "REMOTE_PORT",
    "DOCUMENT_ROOT",
    "SCRIPT_FILENAME",
    "HTTPS",
    "wsgi.url_scheme",
)


@csrf_exempt
def env(request):
    """The request as the application sees it. Accepts any method (POST too,
    without a CSRF token) so tests can see CONTENT_TYPE and CONTENT_LENGTH."""
    meta = request.META
    data = {key: meta.get(key) for key in CGI_KEYS}
    data["http"] = {k: v for k, v in meta.items() if k.startswith("HTTP_")}
    data["path"] = request.path
    data["path_info"] = request.path_info
    data["full_path"] = request.get_full_path()
    data["absolute_uri"] = request.build_absolute_uri()
    data["reverse_env"] = reverse("env")
    data["reverse_status"] = reverse("status", args=[404])
    data["get"] = {k: request.GET.getlist(k) for k in request.GET}
    data["body_length"] = len(request.body)
    data["worker"] = worker_name()
    return JsonResponse(data, json_dumps_params={"indent": 1, "sort_keys": True})


@csrf_exempt
def upload(request):
    if request.method != "POST" and request.method != "PUT":
        return JsonResponse({"error": "POST a body"}, status=405)
    body = request.body
    return JsonResponse(
        {
            "sha256": hashlib.sha256(body).hexdigest(),
            "length": len(body),
            "content_length": request.META.get("CONTENT_LENGTH"),
            "worker": worker_name(),
        }
    )


# /big's body is the 1 MiB block below repeated: byte i of the body is
# (i mod 1048576) mod 251. Tests rebuild it to compare.
_BLOCK = bytes(i % 251 for i in range(1 << 20))


def big(request):
    mb = int(_float_arg(request, "mb", 1, 0, 64))
    response = HttpResponse(_BLOCK * mb, content_type="application/octet-stream")
    response["Content-Length"] = str(len(_BLOCK) * mb)
    return response


def stream(request):
    """n chunks ("chunk K\\n"), with |delay| seconds of sleep between two; no Content-Length."""
    n = int(_float_arg(request, "n", 5, 1, 100))
    delay = _float_arg(request, "delay", 0.5, 0, 10)

    def chunks():
        for k in range(n):
            if k:
                time.sleep(delay)
            yield ("chunk %d\n" % k).encode()

    return StreamingHttpResponse(chunks(), content_type="text/plain")


def cookies(request):
    response = HttpResponse("three cookies\n", content_type="text/plain")
    response.set_cookie("a", "1")
    response.set_cookie("b", "2", path="/")
    response.set_cookie("c", "3", httponly=True)
    return response


def redirect_to_env(request):
    return HttpResponseRedirect(reverse("env"))


@csrf_exempt
def login(request):
    user = request.POST.get("user") or request.GET.get("user")
    if not user:
        return JsonResponse({"error": "give ?user=NAME"}, status=400)
    request.session["user"] = user
    return JsonResponse({"user": user, "worker": worker_name()})


def whoami(request):
    return JsonResponse({"user": request.session.get("user"), "worker": worker_name()})


def status(request, code):
    if code < 200 or code > 599:
        code = 400
    return HttpResponse("status %d from the application\n" % code, status=code, content_type="text/plain")


def sleep(request):
    seconds = _float_arg(request, "s", 1, 0, 120)
    time.sleep(seconds)
    return JsonResponse({"slept": seconds, "worker": worker_name()})


def healthz(request):
    return HttpResponse("ok\n", content_type="text/plain")
