"""``path("", include("resilience.contrib.django.urls"))``: the three probes."""

from __future__ import annotations

from django.urls import path  # type: ignore[import-untyped]

from resilience.contrib.django import views

app_name = "resilience"
urlpatterns = [
    path("livez", views.livez, name="livez"),
    path("readyz", views.readyz, name="readyz"),
    path("health", views.health, name="health"),
]
