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
	var setups []pendingJob
	for i, o := range orgs {
		setups = append(setups, pendingJob{setupRequest(o), i})
	}
	if err := r.submit(ctx, setups); err != nil {
		return err
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
		var links []pendingJob
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
					links = append(links, pendingJob{linkRequest(orgs[orgIndex], user), -1})
				}
			}
		}
		if err := r.submit(ctx, links); err != nil {
			return err
		}
		progress(r.succeeded+r.failed, r.total, &lastLine)
	}
	progress(r.succeeded+r.failed, r.total, nil)
	return nil
}

// pendingJob is a job to submit: its request, and the index of its org for a setup (-1 for a link).
type pendingJob struct {
	req      ssosetup.Request
	orgIndex int
}

// submit submits jobs: on the bulk queue as batches of up to 1000 (SPEC §8), or on the interactive queue one
// by one.
func (r *runner) submit(ctx context.Context, jobs []pendingJob) error {
	if r.cfg.Queue == tasks.QueueSetups {
		for _, j := range jobs {
			if err := r.submitOne(ctx, j); err != nil {
				return err
			}
		}
		return nil
	}
	for len(jobs) > 0 {
		n := min(len(jobs), maxBatch)
		if err := r.submitBatch(ctx, jobs[:n]); err != nil {
			return err
		}
		jobs = jobs[n:]
	}
	return nil
}

// maxBatch is the most jobs one batch holds (SPEC §4).
const maxBatch = 1000

func (r *runner) submitBatch(ctx context.Context, jobs []pendingJob) error {
	ids := make([]string, len(jobs))
	if r.cfg.API != nil {
		items := make([]ssosetup.Request, len(jobs))
		for i, j := range jobs {
			items[i] = j.req
		}
		body, err := json.Marshal(map[string]any{"setups": items, "priority": "bulk"})
		if err != nil {
			return err
		}
		created, err := r.cfg.API.SubmitBatch(ctx, body, "")
		if err != nil {
			return fmt.Errorf("submit a batch over the API: %w", err)
		}
		for i, res := range created.Results {
			if res.Error != nil {
				return fmt.Errorf("a batch item was refused: %s", res.Error.Error())
			}
			ids[i] = res.SetupID
		}
	} else {
		items := make([]enqueue.BatchItem, len(jobs))
		for i, j := range jobs {
			items[i] = enqueue.BatchItem{Request: &j.req}
		}
		b, err := r.submitter.SubmitBatch(ctx, items, enqueue.BatchOptions{Queue: tasks.QueueBulk})
		if err != nil {
			return fmt.Errorf("submit a batch: %w", err)
		}
		for i, res := range b.Results {
			if res.SetupID == nil {
				return fmt.Errorf("a batch item was refused: %v", res.Error)
			}
			ids[i] = res.SetupID.String()
		}
	}
	for i, s := range ids {
		id, err := uuid.Parse(s)
		if err != nil {
			return err
		}
		r.track(id, jobs[i].orgIndex)
	}
	return nil
}

func (r *runner) submitOne(ctx context.Context, j pendingJob) error {
	var id uuid.UUID
	if r.cfg.API != nil {
		body, err := json.Marshal(j.req)
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
		if id, _, err = r.submitter.Submit(ctx, j.req, enqueue.Options{Queue: tasks.QueueSetups}); err != nil {
			return fmt.Errorf("submit: %w", err)
		}
	}
	r.track(id, j.orgIndex)
	return nil
}

func (r *runner) track(id uuid.UUID, orgIndex int) {
	r.submitted++
	r.ids = append(r.ids, id)
	r.pending[id] = orgIndex
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
