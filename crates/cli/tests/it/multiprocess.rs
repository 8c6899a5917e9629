//! Several `onestop serve` processes on one PostgreSQL database.
