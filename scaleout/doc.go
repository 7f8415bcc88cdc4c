// Package scaleout holds the tests that run the product on the engines' own clustering (SPEC §14): today a
// three-primary Redis Cluster and a Sentinel set with a failover, which `make test` starts
// (scripts/services.sh cluster-up) and stops.
package scaleout
