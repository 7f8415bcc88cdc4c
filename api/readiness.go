package api

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Readiness bounds (SPEC §4): each dependency gets at most checkTimeout to answer, and an answer is reused for
// cacheFor, so that probes (or anyone who can reach the port) cannot turn /readyz into load on the databases.
const (
	checkTimeout = 2 * time.Second
	cacheFor     = time.Second
)

// readiness answers /readyz: 200, or 503 naming the dependencies that did not answer. It names them only:
// driver errors carry hosts, users and database names, so they go to the log, never into the response.
type readiness struct {
	checks []Check
	log    *slog.Logger

	mu      sync.Mutex
	checked time.Time
	down    []string
}

func newReadiness(checks []Check, log *slog.Logger) *readiness {
	return &readiness{checks: checks, log: log}
}

func (rd *readiness) serveHTTP(w http.ResponseWriter, r *http.Request) {
	down := rd.unreachable(r.Context())
	if len(down) > 0 {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "unreachable": down})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// unreachable returns the names of the dependencies that failed their check, checking all of them at once
// when the last answer is older than cacheFor. Concurrent probes wait for one round of checks.
func (rd *readiness) unreachable(ctx context.Context) []string {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if !rd.checked.IsZero() && time.Since(rd.checked) < cacheFor {
		return rd.down
	}
	failed := make([]bool, len(rd.checks))
	var wg sync.WaitGroup
	for i, c := range rd.checks {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), checkTimeout)
			defer cancel()
			if err := c.Ping(cctx); err != nil {
				failed[i] = true
				rd.log.WarnContext(ctx, "readiness check failed", "dependency", c.Name, "error", err.Error())
			}
		})
	}
	wg.Wait()
	rd.down = rd.down[:0:0]
	for i, c := range rd.checks {
		if failed[i] {
			rd.down = append(rd.down, c.Name)
		}
	}
	slices.Sort(rd.down)
	rd.checked = time.Now()
	return rd.down
}
