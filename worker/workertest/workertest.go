// Package workertest runs a real worker for the tests of other packages (the API, the CLI, the load test).
package workertest

import (
	"context"
	"testing"

	"github.com/ssosetup/ssosetup/worker"
)

// Run starts a worker with cfg and stops it when the test ends, failing the test if it did not stop cleanly.
func Run(t testing.TB, cfg worker.Config) *worker.Worker {
	t.Helper()
	w := worker.New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	})
	return w
}
