//go:build chaos

package chaos

import (
	"os/exec"
	"slices"

	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ssosetup/ssosetup/storage/storagetest"
)

// total is how many messages s accepted.
func total(s *storagetest.SMTPServer) int {
	n := 0
	for _, c := range s.Received() {
		n += c
	}
	return n
}

func TestKillWorkerThreeTimes(t *testing.T) {
	e := newEnv(t)
	w := e.startWorker()
	var ids []uuid.UUID
	var recoveries []time.Duration
	for round := 1; round <= 3; round++ {
		// Each round brings its own 300 jobs, so that work is in flight at every kill however fast the last
		// recovery went.
		target := e.count(`SELECT count(*) FROM setups WHERE status = 'succeeded'`) + 60
		ids = append(ids, e.seedAndSubmit(300)...)
		e.waitFor("progress before the kill", 3*time.Minute, func() bool {
			return e.count(`SELECT count(*) FROM setups WHERE status = 'succeeded'`) >= target
		})
		held := e.inFlight()
		e.kill(w)
		killed := time.Now()
		t.Logf("kill -9 #%d with %d jobs succeeded and %d stages in flight", round,
			e.count(`SELECT count(*) FROM setups WHERE status = 'succeeded'`), len(held))
		w = e.startWorker()
		if len(held) == 0 {
			t.Errorf("kill #%d: no stage was in flight; the kill exercised nothing", round)
			continue
		}
		// The killed worker's stages run again once its leases go stale (the orphan finder), not when Asynq's
		// recoverer gets to them (55–120 s).
		e.waitFor("the killed worker's stages ran again", 2*time.Minute, func() bool { return e.ranAgain(held) })
		took := time.Since(killed)
		recoveries = append(recoveries, took)
		t.Logf("kill #%d: its %d stages ran again %s after the kill", round, len(held), took.Round(100*time.Millisecond))
	}
	slices.Sort(recoveries)
	if len(recoveries) > 0 {
		t.Logf("recovery after kill -9: median %s, max %s", recoveries[len(recoveries)/2].Round(100*time.Millisecond),
			recoveries[len(recoveries)-1].Round(100*time.Millisecond))
	}
	e.settle(ids, 5*time.Minute)
}

// SIGTERM during load: the worker stops taking tasks, finishes or requeues what it holds and exits within
// 30 s; the next worker completes every job, and nothing is lost or done twice (SPEC §4).
func TestSIGTERMDuringLoad(t *testing.T) {
	e := newEnv(t)
	w := e.startWorker()
	ids := e.seedAndSubmit(300)
	e.waitFor("progress before the SIGTERM", time.Minute, func() bool {
		return e.count(`SELECT count(*) FROM setups WHERE status = 'succeeded'`) >= 30
	})
	held := len(e.inFlight())
	took, err := e.terminate(w)
	t.Logf("SIGTERM with %d stages in flight: exited after %s (%v)", held, took.Round(100*time.Millisecond), err)
	if err != nil || took > 30*time.Second {
		t.Errorf("the worker exited with %v after %s, want a clean exit within 30 s", err, took)
	}
	if held == 0 {
		t.Error("no stage was in flight at the SIGTERM: the shutdown exercised nothing")
	}
	if n := e.count(`SELECT count(*) FROM setups WHERE status IN ('queued', 'running')`); n == 0 {
		t.Error("every job finished before the SIGTERM")
	}
	e.startWorker()
	e.settle(ids, 4*time.Minute)
}

// Every setup's link e-mail reaches the SMTP server although a worker is killed while sending and the server
// refuses every message for a while (SPEC §4), and only once — but for an e-mail the killed worker was
// sending at the instant of the kill: the server may have accepted it just before the worker could record
// that, and no sender can tell. Such an e-mail goes again with the same Message-ID; the test counts them.
func TestEmailsOnceAcrossKillAndSMTPOutage(t *testing.T) {
	s := storagetest.NewSMTPServer(t, storagetest.SMTPPlain)
	e := newEnv(t, "SMTP_URL=smtp://"+s.Addr)
	w := e.startWorker()
	ids := e.seedAndSubmit(200)
	e.waitFor("e-mails on their way", time.Minute, func() bool { return total(s) >= 20 })
	e.kill(w)
	s.Down()
	inDoubt := map[string]bool{} // Message-IDs of the e-mails the killed worker had claimed and not recorded sent
	rows, err := e.pool.Query(e.ctx, `SELECT '<' || setup_id || '.' || member_id || '@ssosetup>' FROM outbound_emails
		WHERE claimed_at IS NOT NULL AND sent_at IS NULL`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		inDoubt[id] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("kill -9 with %d e-mails received and %d being sent; SMTP down", total(s), len(inDoubt))
	e.startWorker()
	time.Sleep(5 * time.Second) // the new worker's sends meet the outage
	if n := e.count(`SELECT count(*) FROM outbound_emails WHERE sent_at IS NULL`); n == 0 {
		t.Error("every e-mail was sent before the outage: it exercised nothing")
	}
	s.Up()
	t.Log("SMTP up")
	e.settle(ids, 4*time.Minute)
	e.waitFor("every e-mail sent", 3*time.Minute, func() bool {
		return e.count(`SELECT count(*) FROM outbound_emails WHERE sent_at IS NULL`) == 0
	})
	received := s.Received()
	twice := 0
	for id, n := range received {
		switch {
		case n == 2 && inDoubt[id]:
			twice++
		case n != 1:
			t.Errorf("message %s received %d times (being sent at the kill: %v)", id, n, inDoubt[id])
		}
	}
	t.Logf("%d of the %d e-mails being sent at the kill were received twice, with the same Message-ID", twice, len(inDoubt))
	if sent := e.count(`SELECT count(*) FROM outbound_emails WHERE sent_at IS NOT NULL`); int64(len(received)) != sent || sent != int64(len(ids)) {
		t.Errorf("%d distinct messages received, %d e-mails recorded sent, %d setups (one unlinked member each)",
			len(received), sent, len(ids))
	} else {
		t.Logf("%d e-mails recorded sent, %d distinct messages received", sent, len(received))
	}
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

// Two workers and a serve on one host with one environment (SPEC §4): none of them fails to start on another's
// listener, and the workers share the load.
func TestTwoWorkersShareTheLoad(t *testing.T) {
	e := newEnv(t)
	api := e.startServe()
	e.startWorker()
	e.startWorker()
	ids := e.seedAndSubmit(300)
	e.settle(ids, 4*time.Minute)
	if err := e.get(api + "/readyz"); err != nil {
		t.Errorf("serve beside two workers: %v", err)
	}
	for i, w := range e.workers {
		if w.ProcessState != nil {
			t.Errorf("process %d exited: %v", i, w.ProcessState)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, l := range e.logs[1:] { // the workers'
		if n := strings.Count(l.String(), "setup succeeded"); n == 0 {
			t.Errorf("worker %d finished no job", i)
		} else {
			t.Logf("worker %d finished %d jobs", i, n)
		}
	}
}
