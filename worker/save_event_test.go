package worker

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/eventstream"
	"github.com/ssosetup/ssosetup/storage/clickhouse"
	"github.com/ssosetup/ssosetup/storage/storagetest"
	"github.com/ssosetup/ssosetup/tasks"
)

type eventRow struct {
	EventID                               uuid.UUID
	Level, Platform, Release, Environment string
	Errors, UserID                        string
	TagKeys, TagValues                    []string
}

func (h *harness) eventRows(id uuid.UUID) []eventRow {
	h.T.Helper()
	conn, err := clickhouse.Open(h.Ctx, h.chURL)
	if err != nil {
		h.T.Fatal(err)
	}
	defer conn.Close()
	rows, err := conn.Query(h.Ctx, `SELECT event_id, level, platform, release, environment, errors, user_id, tags.key, tags.value
		FROM events FINAL WHERE setup_id = ?`, id.String())
	if err != nil {
		h.T.Fatal(err)
	}
	var out []eventRow
	for rows.Next() {
		var r eventRow
		if err := rows.Scan(&r.EventID, &r.Level, &r.Platform, &r.Release, &r.Environment, &r.Errors, &r.UserID, &r.TagKeys, &r.TagValues); err != nil {
			h.T.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func TestSaveEventExplicit(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.start()
	org := h.Org("ev", false)
	h.Provider(org, "okta", false)
	user := h.User("ev")
	req := linkRequest(org, user, "ev-idp")
	req.Event = []byte(`{"event_id": "6F9619FF8B86D011B42D00C04FC964FF", "level": "warn", "platform": "python",
		"release": "web@1.4.2", "environment": "production", "tags": {"region": "eu", "bad key": "x"}}`)
	st := h.mustSucceed(req)

	rows := h.eventRows(st.SetupID)
	if len(rows) != 1 {
		t.Fatalf("%d events, want 1", len(rows))
	}
	r := rows[0]
	if r.EventID.String() != "6f9619ff-8b86-d011-b42d-00c04fc964ff" || r.Level != "warning" || r.Platform != "python" ||
		r.Release != "web@1.4.2" || r.Environment != "production" {
		t.Errorf("event %+v", r)
	}
	tags := map[string]string{}
	for i, k := range r.TagKeys {
		tags[k] = r.TagValues[i]
	}
	if tags["region"] != "eu" || tags["sentry:release"] != "web@1.4.2" || tags["environment"] != "production" || tags["level"] != "warning" {
		t.Errorf("tags %v", tags)
	}
	if !strings.Contains(r.Errors, `"name":"tags"`) {
		t.Errorf("errors %s lack the dropped tag", r.Errors)
	}
	for what, sql := range map[string]string{
		"release":     `SELECT count(*) FROM releases WHERE organization_id = $1 AND version = 'web@1.4.2'`,
		"environment": `SELECT count(*) FROM environments WHERE organization_id = $1 AND name = 'production'`,
		"release env": `SELECT count(*) FROM release_environments WHERE organization_id = $1`,
	} {
		if n := h.QueryInt(sql, org); n != 1 {
			t.Errorf("%s rows: %d, want 1", what, n)
		}
	}

	// An invalid release is dropped with its error; the job still succeeds.
	req2 := linkRequest(org, h.User("ev2"), "ev2-idp")
	req2.Event = []byte(`{"release": "latest", "environment": "a/b"}`)
	st2 := h.mustSucceed(req2)
	r2 := h.eventRows(st2.SetupID)
	if len(r2) != 1 || r2[0].Release != "" || r2[0].Environment != "" || !strings.Contains(r2[0].Errors, `"name":"release"`) ||
		!strings.Contains(r2[0].Errors, `"name":"environment"`) {
		t.Errorf("invalid values: %+v", r2)
	}
}

func TestSameEventIDLeavesOneRow(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.start()
	org := h.Org("same-ev", false)
	h.Provider(org, "okta", false)
	event := []byte(`{"event_id": "0b7e2c2a-3e6b-4b5e-9f55-1f1e1d1c1b1a", "message": "hello", "level": "info"}`)
	for _, name := range []string{"one", "two"} {
		req := linkRequest(org, h.User(name), name+"-idp")
		req.Event = event
		h.mustSucceed(req)
	}
	conn, err := clickhouse.Open(h.Ctx, h.chURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var n uint64
	if err := conn.QueryRow(h.Ctx, `SELECT count() FROM events FINAL WHERE event_id = toUUID('0b7e2c2a-3e6b-4b5e-9f55-1f1e1d1c1b1a')`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("%d rows for one event_id, want 1", n)
	}
}

func TestSaveEventRidesOutClickHouseOutage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	u, _ := url.Parse(h.chURL)
	proxy := storagetest.NewProxy(t, u.Host)
	u.Host = proxy.Addr()
	conn, err := clickhouse.Open(h.Ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	cfg := h.workerConfig(10 * time.Millisecond)
	cfg.Events = clickhouse.NewEvents(conn)
	h.worker = New(cfg)
	h.start()
	org := h.Org("outage", false)
	h.Provider(org, "okta", false)

	proxy.Cut()
	ids := make([]uuid.UUID, 10)
	for i := range ids {
		ids[i] = h.submit(linkRequest(org, h.User("o"+uuid.NewString()[:8]), uuid.NewString()))
	}
	h.eventually("every job reached save_event", func() bool {
		return h.QueryInt(`SELECT count(*) FROM setups WHERE stage = 'save_event'`) == int64(len(ids))
	})
	time.Sleep(1500 * time.Millisecond) // let save_event fail and retry while ClickHouse is unreachable
	if n := h.QueryInt(`SELECT count(*) FROM setups WHERE status <> 'running'`); n != 0 {
		t.Fatalf("%d jobs finished while ClickHouse was unreachable", n)
	}
	proxy.Restore()
	for _, id := range ids {
		if st := h.wait(id); st.Status != ssosetup.StatusSucceeded {
			t.Errorf("job %s: %+v", st.Status, st.Error)
		}
		if n := h.eventCount(id); n != 1 {
			t.Errorf("job %s has %d events, want 1", id, n)
		}
	}
	// An outage uses up no retry (attempts stay 1), so the retries show in the metric.
	if n := testutil.ToFloat64(h.worker.metrics.TaskRetries.WithLabelValues(tasks.StageType(ssosetup.StageSaveEvent), "outage")); n == 0 {
		t.Error("no save_event was retried: the outage was not exercised")
	}
	if n := h.QueryInt(`SELECT count(*) FROM setup_stages WHERE stage = 'save_event' AND attempts > 1`); n != 0 {
		t.Errorf("%d save_event runs used up a retry on the outage", n)
	}
}

func TestEventBatcherGroupsConcurrentSaves(t *testing.T) {
	t.Parallel()
	chURL := storagetest.ClickHouseURL(t)
	conn, err := clickhouse.Open(context.Background(), chURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var mu sync.Mutex
	var inserts, rows int
	b := newEventBatcher(clickhouse.NewEvents(conn), 1000, 200*time.Millisecond, time.Second, func(n int, _ time.Duration, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err == nil {
			inserts++
			rows += n
		}
	}, nil, 0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); b.run(ctx) }()

	const n = 300
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ev := eventstream.Build(eventstream.Job{SetupID: uuid.New(), OrganizationID: int64(i%3 + 1), CreatedAt: time.Now()})
			if err := b.Save(context.Background(), ev, i%2 == 0); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	cancel()
	<-done

	var count uint64
	if err := conn.QueryRow(context.Background(), `SELECT count() FROM events FINAL`).Scan(&count); err != nil {
		t.Fatal(err)
	}
	if count != n || rows != n {
		t.Errorf("%d rows stored, %d reported, want %d", count, rows, n)
	}
	if inserts == 0 || rows/inserts < 20 {
		t.Errorf("%d INSERTs for %d events: not batched", inserts, rows)
	}
}

// A bulk batch does not wait out its delay once every running task is waiting in it: nothing else could join.
func TestEventBatcherFlushesWhenAllTasksWait(t *testing.T) {
	t.Parallel()
	conn, err := clickhouse.Open(context.Background(), storagetest.ClickHouseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const n = 50
	var inserts, rows atomic.Int64
	var running atomic.Int64
	running.Store(n)
	b := newEventBatcher(clickhouse.NewEvents(conn), 1000, time.Hour, time.Hour, func(r int, _ time.Duration, err error) {
		if err == nil {
			inserts.Add(1)
			rows.Add(int64(r))
		}
	}, func() int { return int(running.Load()) }, 20*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go b.run(ctx)

	saved := make(chan error, n)
	for i := range n {
		go func() {
			ev := eventstream.Build(eventstream.Job{SetupID: uuid.New(), OrganizationID: int64(i + 1), CreatedAt: time.Now()})
			saved <- b.Save(context.Background(), ev, true)
		}()
	}
	// An hour's delay: only the all-waiting rule can flush these before the deadline below.
	deadline := time.After(time.Minute)
	for range n {
		select {
		case err := <-saved:
			if err != nil {
				t.Fatal(err)
			}
		case <-deadline:
			t.Fatalf("the batch was not flushed with all %d running tasks waiting in it (%d INSERTs so far)", n, inserts.Load())
		}
	}
	if inserts.Load() != 1 || rows.Load() != n {
		t.Errorf("%d INSERTs with %d rows, want 1 with %d", inserts.Load(), rows.Load(), n)
	}
}
