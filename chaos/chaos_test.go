//go:build chaos

package chaos

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestKillWorkerThreeTimes(t *testing.T) {
	e := newEnv(t)
	w := e.startWorker()
	ids := e.seedAndSubmit(300)
	for round := 1; round <= 3; round++ {
		target := int64(round * 60)
		e.waitFor("progress before the kill", 3*time.Minute, func() bool {
			return e.count(`SELECT count(*) FROM setups WHERE status = 'succeeded'`) >= target
		})
		e.kill(w)
		t.Logf("kill -9 #%d with %d jobs succeeded", round, e.count(`SELECT count(*) FROM setups WHERE status = 'succeeded'`))
		w = e.startWorker()
	}
	// A SIGKILLed worker's active tasks come back when their lease expires (30 s) and Asynq's recoverer
	// next runs (each minute).
	e.settle(ids, 5*time.Minute)
}

func TestPostgresRestart(t *testing.T) {
	e := newEnv(t)
	e.startWorker()
	ids := e.seedAndSubmit(600) // enough to keep the worker busy through pg_ctlcluster's own start-up
	e.waitFor("progress before the restart", time.Minute, func() bool {
		return e.count(`SELECT count(*) FROM setups WHERE status = 'succeeded'`) >= 10
	})
	cluster := strings.Fields(run(t, "pg_lsclusters", "--no-header"))
	unfinished := e.count(`SELECT count(*) FROM setups WHERE status IN ('queued', 'running')`)
	run(t, "pg_ctlcluster", cluster[0], cluster[1], "restart", "-m", "fast")
	t.Logf("postgres restarted with %d jobs unfinished", unfinished)
	if unfinished == 0 {
		t.Error("every job finished before the restart: the fault was not exercised")
	}
	e.settle(ids, 4*time.Minute)
	if n := e.logCount("will retry"); n == 0 {
		t.Error("no task failed during the restart: the fault was not exercised")
	} else {
		t.Logf("%d task runs failed during the restart and were retried", n)
	}
}

func TestClickHouseDownFor20Seconds(t *testing.T) {
	e := newEnv(t)
	e.startWorker()
	ids := e.seedAndSubmit(100)
	e.waitFor("progress before the stop", time.Minute, func() bool {
		return e.count(`SELECT count(*) FROM setups WHERE status = 'succeeded'`) >= 1
	})
	t.Cleanup(func() { _ = exec.Command("bash", "../scripts/services.sh", "up").Run() }) // even if the test fails
	run(t, "sh", "-c", "pkill -TERM -f '^clickhouse-server'; while pgrep -f '^clickhouse-server' >/dev/null; do sleep 0.2; done")
	t.Log("clickhouse stopped")
	stopped := time.Now()
	ids = append(ids, e.seedAndSubmit(100)...) // these meet the outage at save_event
	time.Sleep(20*time.Second - time.Since(stopped))
	if n := e.count(`SELECT count(*) FROM setups WHERE status IN ('queued', 'running')`); n == 0 {
		t.Error("every job finished while ClickHouse was down: the outage was not exercised")
	}
	run(t, "bash", "../scripts/services.sh", "up")
	t.Log("clickhouse started")
	e.settle(ids, 4*time.Minute)
}

func TestTwoWorkersShareTheLoad(t *testing.T) {
	e := newEnv(t)
	e.startWorker()
	e.startWorker()
	ids := e.seedAndSubmit(300)
	e.settle(ids, 4*time.Minute)
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, l := range e.logs {
		if n := strings.Count(l.String(), "setup succeeded"); n == 0 {
			t.Errorf("worker %d finished no job", i)
		} else {
			t.Logf("worker %d finished %d jobs", i, n)
		}
	}
}
