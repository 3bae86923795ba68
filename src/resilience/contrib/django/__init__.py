"""Django: health views, configuration from settings, and a ``resilience_status`` command.

Add the app and its URLs, and name the objects in the settings::

    INSTALLED_APPS = [..., "resilience.contrib.django"]
    RESILIENCE = {
        "HEALTH": "myproject.health.registry",   # a HealthRegistry, or its dotted path
        "BREAKERS": "myproject.remotes.breakers",  # optional: a BreakerRegistry
        "TOKEN": os.environ.get("PROBE_TOKEN"),  # optional: shows details to its bearer
        "SHOW_DETAILS": False,
    }
    urlpatterns = [..., path("", include("resilience.contrib.django.urls"))]

``/livez``, ``/readyz`` and ``/health`` then answer as :meth:`HealthRegistry.wsgi_app`
does; ``manage.py resilience_status`` prints the checks and breakers and exits 0 when
healthy, 1 when not. Needs the ``django`` extra.
"""
