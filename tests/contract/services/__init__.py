"""Contract tests of scheduler.services on SQLite and MariaDB."""
