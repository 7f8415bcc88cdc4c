package worker

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/storage/postgres"
	"github.com/ssosetup/ssosetup/tasks"
)

// secretRequest is a setup whose request carries a secret in every place one can hide: the provider's
// config, the identity's data, the invite token and the event.
func secretRequest(org, user int64) ssosetup.Request {
	req := setupRequest(org, user) // provider client_secret "s3cr3t-config", identity access_token "s3cr3t-token"
	req.Invite = &ssosetup.Invite{MemberID: 999, Token: "s3cr3t-invite"}
	req.Event = json.RawMessage(`{"message": "m", "extra": {"db_password": "s3cr3t-event", "ok": "visible"}}`)
	return req
}

// A finished job keeps its request without secrets (SPEC §4), whether it succeeded, failed in a stage or
// was failed from outside; the organization's provider keeps its config, which it needs.
func TestFinishedJobsKeepNoSecrets(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.start()
	org, stranger := h.Org("acme", false), h.User("eve")
	admin := h.User("ada")
	h.Member(org, admin, "owner")

	succeeded := h.wait(h.submit(secretRequest(org, admin)))
	failed := h.wait(h.submit(secretRequest(org, stranger))) // not a member: start fails
	if succeeded.Status != ssosetup.StatusSucceeded || failed.Status != ssosetup.StatusFailed {
		t.Fatalf("statuses %s and %s", succeeded.Status, failed.Status)
	}
	// A job failed from outside any stage (retries exhausted): recorded, never enqueued.
	abandoned := uuid.New()
	_, _, err := h.store.CreateSetup(h.Ctx, postgres.NewSetup{ID: abandoned, Request: secretRequest(org, admin),
		RequestHash: abandoned.String(), Queue: tasks.QueueSetups})
	if err != nil {
		t.Fatal(err)
	}
	if _, changed, err := h.store.FailJob(h.Ctx, abandoned, 0); err != nil || !changed {
		t.Fatalf("FailJob: changed %v, %v", changed, err)
	}

	for name, id := range map[string]uuid.UUID{"succeeded": succeeded.SetupID, "failed": failed.SetupID, "failed from outside": abandoned} {
		var stored string
		h.Scan(`SELECT request::text FROM setups WHERE id = $1`, []any{id}, &stored)
		for _, secret := range []string{"s3cr3t-config", "s3cr3t-token", "s3cr3t-invite", "s3cr3t-event"} {
			if strings.Contains(stored, secret) {
				t.Errorf("%s job keeps %q in its request: %s", name, secret, stored)
			}
		}
		for _, kept := range []string{`"key": "okta"`, "acme.okta.com", "visible", `"member_id": 999`} {
			if !strings.Contains(stored, kept) {
				t.Errorf("%s job lost %q from its request: %s", name, kept, stored)
			}
		}
	}
	var config string
	h.Scan(`SELECT config::text FROM auth_providers WHERE organization_id = $1`, []any{org}, &config)
	if !strings.Contains(config, "s3cr3t-config") {
		t.Errorf("the provider lost its config: %s", config)
	}
}
