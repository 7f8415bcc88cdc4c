package worker

import (
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ssosetup/ssosetup/tracing"

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
	ctx, span := tracing.Tracer().Start(tracing.FromHeaders(ctx, t.Headers()), t.Type(),
		trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attribute.String("ssosetup.setup_id", p.SetupID.String())))
	defer span.End()
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
	var retry error
	for _, e := range emails {
		claimed, err := w.store.ClaimEmail(ctx, e.ID)
		if err != nil {
			return err
		}
		if !claimed {
			continue // another run is sending it, or sent it
		}
		sendCtx, send := tracing.ParentOnly().Tracer(tracing.Name).Start(ctx, "smtp send", trace.WithSpanKind(trace.SpanKindClient))
		sendErr := w.cfg.Mailer.Send(sendCtx, Message{To: e.To, Subject: e.Subject, Body: e.Body,
			MessageID: fmt.Sprintf("%s.%d@ssosetup", p.SetupID, e.MemberID), Date: time.Now()})
		if sendErr != nil {
			send.SetStatus(codes.Error, sendErr.Error())
		}
		send.End()
		permanent := IsPermanent(sendErr)
		if err := w.store.MarkEmailSent(ctx, e.ID, sendErr, permanent); err != nil {
			return err
		}
		switch {
		case permanent:
			w.log.WarnContext(ctx, "link e-mail refused by the SMTP server; recorded, not retried", "setup_id", p.SetupID,
				"email_id", e.ID, "error", sendErr.Error())
		case sendErr != nil:
			retry = fmt.Errorf("link e-mail %d of setup %s not delivered: %w", e.ID, p.SetupID, sendErr)
		}
	}
	return retry // retried until sent; an SMTP outage (4xx, no answer) uses up no retry
}
