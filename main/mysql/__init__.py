"""The MySQL/MariaDB database backend (`DB_ENGINE=mysql`): Django's, with tables created in utf8mb4."""
