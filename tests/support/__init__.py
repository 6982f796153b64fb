"""What the tests and the benchmark share: fakes of Bitrix24, servers run as child processes (gunicorn, PostgreSQL),
throwaway databases, and the invariants every refused request must keep."""
