package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ssosetup/ssosetup"
)

// Over plain HTTP, as an operator without a browser: the list filters, the job page shows what SPEC §12
// lists and no secret, a retry through the form brings a fixed job to success, and the batch page counts.
func TestConsolePagesAndRetry(t *testing.T) {
	t.Parallel()
	w := newWorld(t, false)
	op := w.operator()

	failed := w.finished(w.request()) // ada is no member yet: not_a_member
	if failed.Status != ssosetup.StatusFailed {
		t.Fatalf("first job %s", failed.Status)
	}
	w.db.Member(w.org, w.admin, "owner")
	secret := w.request()
	secret.OrganizationID = w.db.Org("beta", false)
	w.db.Member(secret.OrganizationID, w.admin, "owner")
	secret.Provider.Config["client_secret"] = "s3cr3t-config-value"
	secret.Identity.Data["access_token"] = "s3cr3t-token-value"
	ok := w.finished(secret)
	if ok.Status != ssosetup.StatusSucceeded {
		t.Fatalf("second job %s %+v", ok.Status, ok.Error)
	}

	st, page := op.get("/console/?status=failed&code=not_a_member")
	if st != 200 || !strings.Contains(page, failed.SetupID.String()) || strings.Contains(page, ok.SetupID.String()) {
		t.Fatalf("the failed jobs' list (%d) does not show exactly the failed job:\n%s", st, page)
	}
	mustContain(t, page, "Last 24 hours", "failed <b>1</b>", "succeeded <b>1</b>", `<label for="f-status">`)

	w.db.Exec(`UPDATE setups SET trace_id = '4bf92f3577b34da6a3ce929d0e0e4736' WHERE id = $1`, ok.SetupID)
	st, page = op.get("/console/setups/" + ok.SetupID.String())
	if st != 200 {
		t.Fatalf("job page: %d", st)
	}
	mustContain(t, page, "succeeded", "attach_identity", "sso-identity.link", "sso.enable", "sso_enabled",
		"Event: <code>", "[redacted]", `<a href="https://traces.example/trace/4bf92f3577b34da6a3ce929d0e0e4736">`)
	for _, s := range []string{"s3cr3t-config-value", "s3cr3t-token-value"} {
		if strings.Contains(page, s) {
			t.Errorf("the job page shows the secret %q", s)
		}
	}
	if strings.Contains(page, ">Retry<") || strings.Contains(page, ">Cancel<") {
		t.Error("a succeeded job offers Retry or Cancel")
	}

	_, page = op.get("/console/setups/" + failed.SetupID.String())
	mustContain(t, page, "Error: not_a_member", "There was an error encountered during authentication.",
		"Fix the membership", ">Retry<")
	st, loc := op.post("/console/setups/"+failed.SetupID.String()+"/retry",
		url.Values{"csrf": {csrf(t, page)}, "retries": {"0"}}, nil)
	if st != http.StatusSeeOther || !strings.Contains(loc, "notice=Retried") {
		t.Fatalf("retry through the form: %d %s", st, loc)
	}
	var done ssosetup.SetupStatus
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if done, _ = w.store.SetupStatus(w.db.Ctx, failed.SetupID); ssosetup.IsFinished(done.Status) {
			break
		}
	}
	if done.Status != ssosetup.StatusSucceeded || done.Retries != 1 {
		t.Fatalf("after the console's retry: %s, retries %d", done.Status, done.Retries)
	}
	_, page = op.get("/console/setups/" + failed.SetupID.String())
	mustContain(t, page, "succeeded", "Retries</dt><dd>1")

	if st, _ = op.get("/console/setups/00000000-0000-4000-8000-000000000000"); st != 404 {
		t.Errorf("an unknown job: %d", st)
	}
}

// Cancel and Retry are refused without the dashboard's credentials, without the form's token, from another
// origin, and in read-only mode, where they are not even shown.
func TestConsoleRefusesActions(t *testing.T) {
	t.Parallel()
	w := newWorld(t, false)
	failed := w.finished(w.request())
	path := "/console/setups/" + failed.SetupID.String()
	op := w.operator()
	_, page := op.get(path)
	token := csrf(t, page)

	anonymous := w.operator()
	anonymous.auth = false
	if st, _ := anonymous.get("/console/"); st != http.StatusUnauthorized {
		t.Errorf("the console without credentials: %d", st)
	}
	cases := map[string]func() int{
		"no credentials": func() int {
			st, _ := anonymous.post(path+"/retry", url.Values{"csrf": {token}}, nil)
			return st
		},
		"no token": func() int { st, _ := op.post(path+"/retry", url.Values{}, nil); return st },
		"another cookie's token": func() int {
			st, _ := w.operator().post(path+"/retry", url.Values{"csrf": {token}}, nil)
			return st
		},
		"cross-site": func() int {
			st, _ := op.post(path+"/retry", url.Values{"csrf": {token}}, http.Header{"Origin": {"https://evil.example"}})
			return st
		},
	}
	for name, try := range cases {
		if st := try(); st != http.StatusForbidden && st != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 403 (or 401)", name, st)
		}
	}
	if st, _ := w.store.SetupStatus(w.db.Ctx, failed.SetupID); st.Retries != 0 {
		t.Errorf("a refused action retried the job (%d retries)", st.Retries)
	}

	ro := newWorld(t, true)
	roFailed := ro.finished(ro.request())
	roOp := ro.operator()
	_, page = roOp.get("/console/setups/" + roFailed.SetupID.String())
	if strings.Contains(page, ">Retry<") {
		t.Error("read-only mode shows Retry")
	}
	st, _ := roOp.post("/console/setups/"+roFailed.SetupID.String()+"/retry", url.Values{"csrf": {"0123456789abcdef0123456789abcdef"}}, nil)
	if st != http.StatusForbidden {
		t.Errorf("retry in read-only mode: %d", st)
	}
}
