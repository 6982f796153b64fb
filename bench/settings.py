"""The backend's own settings plus the benchmark's ceiling view (`bench/urls.py`); only `make bench` uses them."""

from settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
