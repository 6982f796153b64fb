"""PostgreSQL for gunicorn's gevent workers: django-db-geventpool's pool of connections, reused across the green
threads (settings.py uses it where gevent runs), without its check of every connection it hands out.

That check (`SELECT 1` in a transaction of its own) cost a placement's first call 1.9 ms end to end in `make bench`
(8.6 ms with it, 6.7 ms without, with Bitrix24 answering at once), against a goal of 60 ms with 50 ms of Bitrix24's
latency. psycopg2 knows a connection it saw break; one the database dropped silently (a restart) fails its
request with a 503 (`log_errors`), and the pool then closes all it holds, so the next requests connect anew.
"""

from django_db_geventpool.backends.postgresql_psycopg2 import base
from gevent.lock import Semaphore
from psycopg2 import InterfaceError, extensions


class ConnectionPool(base.PostgresConnectionPool):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._one_at_a_time = Semaphore()

    def get(self) -> extensions.connection:
        """A connection of the pool, opening one only while fewer than MAX_CONNS (DB_POOL_SIZE) are open.

        One green thread at a time: the pool counts a connection once it is open, so green threads that asked at the
        same moment each opened one beyond the limit (tests/test_load_and_faults.py saw 7 sessions for 2 pools of 3).
        """
        with self._one_at_a_time:
            return super().get()

    def check_usable(self, connection: extensions.connection) -> None:
        if connection.closed:
            raise InterfaceError("connection already closed")


class DatabaseWrapper(base.DatabaseWrapper):
    pool_class = ConnectionPool
    # close() gives the connection back to the pool (main/bitrix24.py does, before it waits on Bitrix24).
    gives_back_connections = True
