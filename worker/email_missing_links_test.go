package worker

import (
	"testing"

	"github.com/google/uuid"

	"github.com/ssosetup/ssosetup/tasks"
)

// SPEC §3.8: a missing actor or organization is logged and nothing is sent; the task is not retried.
func TestEmailMissingLinksWithoutActorOrOrg(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	org := h.Org("acme", false)
	actor := h.User("ada")
	h.Member(org, actor, "owner")
	h.Member(org, h.User("bob"), "member") // unlinked: would get an e-mail
	mux := h.worker.mux()

	for _, p := range []tasks.EmailMissingLinksPayload{
		{OrganizationID: org, ActorUserID: actor + 1000, Provider: "okta", SetupID: uuid.New()},
		{OrganizationID: org + 1000, ActorUserID: actor, Provider: "okta", SetupID: uuid.New()},
	} {
		if err := mux.ProcessTask(h.Ctx, tasks.NewEmailMissingLinks(p, nil)); err != nil {
			t.Errorf("%+v: %v (want no error: retrying cannot help)", p, err)
		}
	}
	if n := h.QueryInt(`SELECT count(*) FROM outbound_emails`); n != 0 {
		t.Errorf("%d e-mails recorded", n)
	}
	if got := h.mailer.recipients(); len(got) != 0 {
		t.Errorf("e-mails sent to %v", got)
	}

	// With both present, every unlinked member gets one.
	p := tasks.EmailMissingLinksPayload{OrganizationID: org, ActorUserID: actor, Provider: "okta", SetupID: uuid.New()}
	if err := mux.ProcessTask(h.Ctx, tasks.NewEmailMissingLinks(p, nil)); err != nil {
		t.Fatal(err)
	}
	if got := h.mailer.recipients(); len(got) != 2 { // ada has not linked SSO either
		t.Errorf("e-mails sent to %v, want ada and bob", got)
	}
}
