// Package chaos holds the fault tests of SPEC §4: real worker processes killed with SIGKILL, Postgres
// restarted, ClickHouse stopped, several workers sharing the load. They stop and start the shared local
// services, so they run alone, after the rest of the suite: `make test` runs them with `-tags chaos -p 1`.
package chaos
