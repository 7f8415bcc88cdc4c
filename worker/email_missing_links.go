package worker

import (
	"context"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/storage/postgres"
	"github.com/ssosetup/ssosetup/tasks"
)

// emailMissingLinks records (once per setup and member) and, with a mailer, sends the "Action Required"
// e-mails to every member who has not linked SSO yet (SPEC §3.8).
func (w *Worker) emailMissingLinks(ctx context.Context, t *asynq.Task) error {
	p, err := tasks.ParseEmailMissingLinks(t)
	if err != nil {
		return permanent(err)
	}
	emails, err := w.store.RecordMissingLinkEmails(ctx, postgres.MissingLinkEmails{
		SetupID: p.SetupID, OrganizationID: p.OrganizationID, ActorUserID: p.ActorUserID, Provider: p.Provider,
		BaseURL: w.cfg.BaseURL,
	})
	if errors.Is(err, ssosetup.ErrNotFound) {
		w.log.WarnContext(ctx, "sso link e-mails not sent: actor or organization not found",
			"setup_id", p.SetupID, "organization_id", p.OrganizationID, "actor_user_id", p.ActorUserID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("record link e-mails of setup %s: %w", p.SetupID, err)
	}
	if w.cfg.Mailer == nil {
		return nil
	}
	var failed int
	for _, e := range emails {
		sendErr := w.cfg.Mailer.Send(ctx, e.To, e.Subject, e.Body)
		if err := w.store.MarkEmailSent(ctx, e.ID, sendErr); err != nil {
			return err
		}
		if sendErr != nil {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d link e-mails of setup %s not delivered", failed, len(emails), p.SetupID)
	}
	return nil
}
