package worker

import (
	"context"
	"fmt"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/eventstream"
	"github.com/ssosetup/ssosetup/storage"
	"github.com/ssosetup/ssosetup/storage/postgres"
	"github.com/ssosetup/ssosetup/tasks"
)

// saveEvent runs the save_event stage (SPEC §3.6) in three steps, none holding a transaction across
// another service: upsert the release and environment (idempotent), write the event to ClickHouse through
// the batcher (idempotent through its deterministic id and the table's sort key), then record the stage. A crash between
// steps repeats the earlier ones harmlessly.
func (w *Worker) saveEvent(ctx context.Context, run postgres.Run) (postgres.Outcome, error) {
	out, recorded, err := w.store.LoadJob(ctx, run.SetupID, ssosetup.StageSaveEvent)
	switch {
	case err != nil:
		return out, err
	case recorded:
		return out, storage.ErrStageDone
	case out.Job.Status == ssosetup.StatusFailed:
		return out, postgres.ErrJobFinished
	}
	ev := eventstream.Build(eventJob(out.Job))
	if err := w.store.UpsertReleaseEnvironment(ctx, out.Job.OrganizationID, ev.Release, ev.Environment, ev.Timestamp); err != nil {
		return out, fmt.Errorf("save release and environment: %w", err)
	}
	if err := w.batcher.Save(ctx, ev, out.Job.Queue == tasks.QueueBulk); err != nil {
		return out, fmt.Errorf("save event: %w", err)
	}
	detail := "event " + ev.EventID.String()
	if err := w.store.RecordEventSaved(ctx, run, detail); err != nil {
		return out, err
	}
	out.Status, out.Detail = ssosetup.StageDone, detail
	return out, nil
}

// eventJob is what the eventstream needs of a job.
func eventJob(j postgres.Job) eventstream.Job {
	provider := ""
	if j.Request.Provider != nil {
		provider = j.Request.Provider.Key
	}
	return eventstream.Job{
		SetupID: j.ID, OrganizationID: j.OrganizationID, OrgSlug: j.OrgSlug, Flow: j.Flow, Provider: provider,
		UserID: j.Request.UserID, UserEmail: j.UserEmail, CreatedAt: j.CreatedAt, Raw: j.Request.Event,
	}
}
