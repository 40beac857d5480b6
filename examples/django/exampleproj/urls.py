from django.urls import path

from . import views

urlpatterns = [
    path("", views.index, name="index"),
    path("env", views.env, name="env"),
    path("upload", views.upload, name="upload"),
    path("big", views.big, name="big"),
    path("stream", views.stream, name="stream"),
    path("cookies", views.cookies, name="cookies"),
    path("redirect", views.redirect_to_env, name="redirect"),
    path("login", views.login, name="login"),
    path("whoami", views.whoami, name="whoami"),
    path("status/<int:code>", views.status, name="status"),
    path("sleep", views.sleep, name="sleep"),
    path("healthz", views.healthz, name="healthz"),
]
