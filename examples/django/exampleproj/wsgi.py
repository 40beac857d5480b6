"""WSGI entry point: uwsgi --wsgi-file exampleproj/wsgi.py (see start_workers.py)."""
import os
import sys
from pathlib import Path

# uWSGI's --wsgi-file does not put the project on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exampleproj.settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
