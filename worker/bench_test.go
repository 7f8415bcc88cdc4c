package worker

import (
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/ssosetup/ssosetup"
)

// BenchmarkSetupEndToEnd submits one setup at a time on an idle worker and measures the time from submit to
// the job's succeeded status: run with -benchtime=100x for 100 sequential setups.
func BenchmarkSetupEndToEnd(b *testing.B) {
	h := newHarness(b)
	h.worker = New(h.workerConfig(benchPoll())) // the product's default WORKER_POLL_INTERVAL
	h.start()
	latencies := make([]time.Duration, 0, b.N)
	for i := 0; b.Loop(); i++ {
		org := h.Org(fmt.Sprintf("bench%d", i), i%2 == 0)
		admin := h.User(fmt.Sprintf("admin%d", i))
		h.Member(org, admin, "owner")
		began := time.Now()
		id := h.submit(setupRequest(org, admin))
		for {
			st, err := h.store.SetupStatus(h.Ctx, id)
			if err != nil {
				b.Fatal(err)
			}
			if st.Status == ssosetup.StatusSucceeded {
				break
			}
			if st.Status == ssosetup.StatusFailed {
				b.Fatalf("setup failed: %+v", st.Error)
			}
			time.Sleep(time.Millisecond)
		}
		latencies = append(latencies, time.Since(began))
	}
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// benchPoll is the poll interval under benchmark: BENCH_POLL_INTERVAL, else the product's default.
func benchPoll() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("BENCH_POLL_INTERVAL")); err == nil {
		return d
	}
	return 10 * time.Millisecond
}
