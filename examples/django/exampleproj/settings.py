"""Settings of the fcgimux example site.

A deliberately small Django 3.2 project that fcgimux serves over FastCGI
(uWSGI's --fastcgi-socket). It is an example and a test fixture, not a
production configuration: the secret key is fixed and public.

Environment:
  FCGIMUX_EXAMPLE_DB  path of the sqlite database (default: var/example.sqlite3
                      beside manage.py). Workers that share it share sessions.
  WORKER_NAME         a name put into responses, so tests can tell which
                      worker answered (default: the process id).
"""
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "fcgimux-example-not-secret-0123456789abcdefghijklmnopqrstuvwxyz"
DEBUG = False
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
]

MIDDLEWARE = [
    "exampleproj.views.RequestLogMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "exampleproj.views.WorkerHeaderMiddleware",
]

ROOT_URLCONF = "exampleproj.urls"
WSGI_APPLICATION = "exampleproj.wsgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("FCGIMUX_EXAMPLE_DB") or str(BASE_DIR / "var" / "example.sqlite3"),
        # Several worker processes write sessions to one file.
        "OPTIONS": {"timeout": 20},
    }
}

SESSION_ENGINE = "django.contrib.sessions.backends.db"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

# /big builds its body in memory; /upload reads the whole body. The example
# accepts what fcgimux's default max_body_size (32MiB) lets through.
DATA_UPLOAD_MAX_MEMORY_SIZE = None

USE_TZ = True
TIME_ZONE = "UTC"
USE_I18N = False

APPEND_SLASH = False

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
}
