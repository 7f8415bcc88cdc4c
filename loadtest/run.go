package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/google/uuid"
	"github.com/schollz/progressbar/v3"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/enqueue"
	"github.com/ssosetup/ssosetup/tasks"
)

// runner submits jobs and follows them to the end.
type runner struct {
	cfg       Config
	submitter *enqueue.Submitter
	total     int // jobs expected: shrinks when a setup fails, since its links are never submitted
	submitted int
	succeeded int
	failed    int
	failures  map[string]int
	hist      *hdrhistogram.Histogram
	ids       []uuid.UUID
	pending   map[uuid.UUID]int // job → index of its org for setups, -1 for links
	since     time.Time         // poll reads jobs finished after this (Postgres clock)
}

func (r *runner) run(ctx context.Context, orgs []org) error {
	progress := r.newProgress()
	if err := r.cfg.Pool.QueryRow(ctx, `SELECT now()`).Scan(&r.since); err != nil {
		return err
	}
	for i, o := range orgs {
		if err := r.submit(ctx, setupRequest(o), i); err != nil {
			return err
		}
	}
	lastLine := time.Now()
	for len(r.pending) > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped with %d jobs unfinished: %w", len(r.pending), ctx.Err())
		case <-time.After(25 * time.Millisecond):
		}
		finished, err := r.poll(ctx)
		if err != nil {
			return err
		}
		for _, f := range finished {
			orgIndex := r.pending[f.id]
			delete(r.pending, f.id)
			_ = r.hist.RecordValue(max(f.latencyUS, 1))
			if f.status != ssosetup.StatusSucceeded {
				r.failed++
				r.failures[f.code]++
				if orgIndex >= 0 {
					r.total -= len(orgs[orgIndex].members)
				}
				continue
			}
			r.succeeded++
			if orgIndex >= 0 {
				for _, user := range orgs[orgIndex].members {
					if err := r.submit(ctx, linkRequest(orgs[orgIndex], user), -1); err != nil {
						return err
					}
				}
			}
		}
		progress(r.succeeded+r.failed, r.total, &lastLine)
	}
	progress(r.succeeded+r.failed, r.total, nil)
	return nil
}

func (r *runner) submit(ctx context.Context, req ssosetup.Request, orgIndex int) error {
	var id uuid.UUID
	if r.cfg.API != nil {
		body, err := json.Marshal(req)
		if err != nil {
			return err
		}
		created, err := r.cfg.API.Submit(ctx, body, "")
		if err != nil {
			return fmt.Errorf("submit over the API: %w", err)
		}
		if id, err = uuid.Parse(created.SetupID); err != nil {
			return err
		}
	} else {
		var err error
		// Bulk jobs use their own, lower-priority queue so that interactive setups stay responsive.
		if id, _, err = r.submitter.Submit(ctx, req, enqueue.Options{Queue: tasks.QueueBulk}); err != nil {
			return fmt.Errorf("submit: %w", err)
		}
	}
	r.submitted++
	r.ids = append(r.ids, id)
	r.pending[id] = orgIndex
	return nil
}

type finishedJob struct {
	id        uuid.UUID
	status    string
	code      string
	latencyUS int64
}

// poll returns the pending jobs that finished since the last poll, with their end-to-end latency (recorded
// to finished). It reads only newly finished rows, so that following thousands of jobs stays cheap for
// Postgres; a second of overlap covers transactions that committed late with an earlier finished_at.
func (r *runner) poll(ctx context.Context) ([]finishedJob, error) {
	rows, err := r.cfg.Pool.Query(ctx, `
		SELECT id, status, coalesce(error_code, ''),
			(extract(epoch FROM finished_at - created_at) * 1e6)::bigint, finished_at
		FROM setups WHERE finished_at > $1`, r.since.Add(-time.Second))
	if err != nil {
		return nil, fmt.Errorf("poll job statuses: %w", err)
	}
	defer rows.Close()
	var out []finishedJob
	for rows.Next() {
		var f finishedJob
		var finished time.Time
		if err := rows.Scan(&f.id, &f.status, &f.code, &f.latencyUS, &finished); err != nil {
			return nil, err
		}
		if finished.After(r.since) {
			r.since = finished
		}
		if _, ours := r.pending[f.id]; ours {
			out = append(out, f)
		}
	}
	return out, rows.Err()
}

// newProgress returns a progress reporter: a bar on a terminal, a line every two seconds otherwise.
func (r *runner) newProgress() func(done, total int, last *time.Time) {
	if r.cfg.Progress == nil {
		return func(int, int, *time.Time) {}
	}
	if r.cfg.Terminal {
		bar := progressbar.NewOptions(r.total, progressbar.OptionSetWriter(r.cfg.Progress),
			progressbar.OptionSetDescription("jobs"), progressbar.OptionShowCount(), progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("jobs"), progressbar.OptionThrottle(100*time.Millisecond))
		return func(done, total int, last *time.Time) {
			bar.ChangeMax(total)
			_ = bar.Set(done)
			if last == nil {
				_ = bar.Finish()
				fmt.Fprintln(r.cfg.Progress)
			}
		}
	}
	return func(done, total int, last *time.Time) {
		if last == nil || time.Since(*last) >= 2*time.Second {
			fmt.Fprintf(r.cfg.Progress, "progress: %d/%d jobs finished (%d failed)\n", done, total, r.failed)
			if last != nil {
				*last = time.Now()
			}
		}
	}
}
