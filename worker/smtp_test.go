package worker

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/hibiken/asynq"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/storage/postgres"
	"github.com/ssosetup/ssosetup/storage/storagetest"
	"github.com/ssosetup/ssosetup/tasks"
)

// The mailer speaks SMTP with STARTTLS (or TLS from the start for smtps://), sends Date and the given
// Message-ID, and tells a permanent refusal (5xx) from one to retry (4xx).
func TestSMTPMailer(t *testing.T) {
	t.Parallel()
	for _, scheme := range []string{"smtp", "smtps"} {
		t.Run(scheme, func(t *testing.T) {
			t.Parallel()
			s := storagetest.NewSMTPServer(t, map[string]string{"smtp": storagetest.SMTPStartTLS, "smtps": storagetest.SMTPImplicit}[scheme])
			s.Refuse("gone@example.test", 550, "no such user")
			s.Refuse("busy@example.test", 451, "try again later")
			m := smtpMailer(t, s, scheme)
			date := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
			err := m.Send(context.Background(), Message{To: "ada@example.test", Subject: "Action Required for Acme",
				Body: "link\nyour account", MessageID: "s1.7@ssosetup", Date: date})
			if err != nil {
				t.Fatal(err)
			}
			h := s.Header("<s1.7@ssosetup>")
			if s.Count("<s1.7@ssosetup>") != 1 || h.Get("Date") != date.Format(time.RFC1123Z) || h.Get("Subject") != "Action Required for Acme" {
				t.Errorf("received %d, headers %v", s.Count("<s1.7@ssosetup>"), h)
			}
			err = m.Send(context.Background(), Message{To: "gone@example.test", Subject: "x", MessageID: "s1.8@ssosetup", Date: date})
			if err == nil || !IsPermanent(err) || isOutage(err) {
				t.Errorf("550: %v (permanent %v)", err, IsPermanent(err))
			}
			err = m.Send(context.Background(), Message{To: "busy@example.test", Subject: "x", MessageID: "s1.9@ssosetup", Date: date})
			if err == nil || IsPermanent(err) || !isOutage(err) {
				t.Errorf("451: %v (permanent %v, outage %v)", err, IsPermanent(err), isOutage(err))
			}
		})
	}
}

// Credentials never travel in clear: without STARTTLS on offer, an smtp:// URL with a password refuses to send.
func TestSMTPMailerRequiresTLSForCredentials(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return discard{}, nil }))
	srv.Domain = "localhost" // no TLSConfig: no STARTTLS
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	m, err := NewSMTPMailer("smtp://user:s3cret@"+ln.Addr().String(), "sso@example.test", nil)
	if err != nil {
		t.Fatal(err)
	}
	err = m.Send(context.Background(), Message{To: "ada@example.test", Subject: "x", MessageID: "a@b", Date: time.Now()})
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Errorf("send with credentials and no STARTTLS: %v", err)
	}
}

// Every link e-mail reaches the SMTP server exactly once although the e-mail task runs four times at once
// (each e-mail is claimed before it is sent), a refused recipient (550) is recorded and not retried, and a
// temporary refusal (451) is retried until the message is sent.
func TestLinkEmailsArriveOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	s := storagetest.NewSMTPServer(t, storagetest.SMTPStartTLS)
	s.Refuse("gone@example.test", 550, "no such user")
	s.Refuse("busy@example.test", 451, "try again later")
	cfg := h.workerConfig(10 * time.Millisecond)
	cfg.Mailer = smtpMailer(t, s, "smtp")
	h.worker = New(cfg)
	org := h.Org("mail", false)
	admin := h.User("ada")
	h.Member(org, admin, "owner")
	for _, name := range []string{"bob", "carol", "dave"} {
		h.Member(org, h.User(name), "member")
	}
	h.Exec(`INSERT INTO organization_members (organization_id, email) VALUES ($1, 'gone@example.test'), ($1, 'busy@example.test')`, org)
	id := h.submit(setupRequest(org, admin))
	h.runBatcher()
	h.runStages(id, ssosetup.Stages...)
	task := tasks.NewEmailMissingLinks(tasks.EmailMissingLinksPayload{OrganizationID: org, ActorUserID: admin,
		Provider: "okta", SetupID: id}, nil)

	mux := h.worker.mux()
	release := s.Hold() // every sending waits in DATA until all four runs are under way
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() { errs[i] = mux.ProcessTask(h.Ctx, task) })
	}
	time.Sleep(200 * time.Millisecond)
	release()
	wg.Wait()
	retried := 0
	for _, err := range errs {
		if err != nil {
			if !isOutage(err) {
				t.Errorf("e-mail task: %v, want nil or the 451 to retry", err)
			}
			retried++
		}
	}
	if retried == 0 {
		t.Error("no run reported the 451 for a retry")
	}
	s.Refuse("busy@example.test", 0, "") // the server takes it now
	if err := mux.ProcessTask(h.Ctx, task); err != nil {
		t.Fatalf("the retry: %v", err)
	}
	if err := mux.ProcessTask(h.Ctx, task); err != nil {
		t.Fatalf("a late redelivery: %v", err)
	}

	for _, to := range []string{"bob", "carol", "dave"} {
		member := h.QueryInt(`SELECT m.id FROM organization_members m JOIN users u ON u.id = m.user_id WHERE u.username = $1`, to)
		if n := s.Count("<" + id.String() + "." + strconv.FormatInt(member, 10) + "@ssosetup>"); n != 1 {
			t.Errorf("%s's e-mail arrived %d times, want once", to, n)
		}
	}
	busy := h.QueryInt(`SELECT id FROM organization_members WHERE email = 'busy@example.test'`)
	if n := s.Count("<" + id.String() + "." + strconv.FormatInt(busy, 10) + "@ssosetup>"); n != 1 {
		t.Errorf("the e-mail refused with 451 arrived %d times after its retry, want once", n)
	}
	if n := total(s); n != 4 {
		t.Errorf("the server received %d messages, want 4", n)
	}
	var refused string
	h.Scan(`SELECT coalesce(error, '') FROM outbound_emails WHERE to_address = 'gone@example.test'`, nil, &refused)
	if !strings.Contains(refused, "550") {
		t.Errorf("the 550 was not recorded: %q", refused)
	}
	if n := h.QueryInt(`SELECT count(*) FROM outbound_emails WHERE sent_at IS NULL AND error IS NULL`); n != 0 {
		t.Errorf("%d e-mails neither sent nor refused", n)
	}
}

// An e-mail whose task gave up (archived) is sent by a task the reconciler enqueues, until it goes.
func TestUnsentEmailIsSentAfterItsTaskWasArchived(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	s := storagetest.NewSMTPServer(t, storagetest.SMTPStartTLS)
	cfg := h.workerConfig(10 * time.Millisecond)
	cfg.Mailer = smtpMailer(t, s, "smtp")
	cfg.ReconcileIdle = time.Millisecond
	h.worker = New(cfg)
	org := h.Org("late", false)
	admin := h.User("ada")
	h.Member(org, admin, "owner")
	h.Member(org, h.User("bob"), "member")
	id := h.submit(setupRequest(org, admin))
	h.runBatcher()
	h.runStages(id, ssosetup.Stages...)
	// The e-mail was recorded, its sending failed, and the task was archived.
	if _, err := h.store.RecordMissingLinkEmails(h.Ctx, postgres.MissingLinkEmails{SetupID: id, OrganizationID: org,
		ActorUserID: admin, Provider: "okta", BaseURL: "https://sso.example"}); err != nil {
		t.Fatal(err)
	}
	emailTask := tasks.TaskID(id, "email_missing_links")
	if err := h.inspector.ArchiveTask(tasks.QueueSide, emailTask); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // older than ReconcileIdle
	if _, err := h.worker.recon.round(h.Ctx); err != nil {
		t.Fatal(err)
	}
	pending, err := h.inspector.ListPendingTasks(tasks.QueueSide)
	if err != nil || len(pending) != 1 {
		t.Fatalf("pending e-mail tasks %d (%v), want the reconciler's one", len(pending), err)
	}
	if err := h.worker.mux().ProcessTask(h.Ctx, asynq.NewTask(pending[0].Type, pending[0].Payload)); err != nil {
		t.Fatal(err)
	}
	if n := total(s); n != 1 {
		t.Errorf("the server received %d messages, want bob's", n)
	}
	if _, err := h.worker.recon.round(h.Ctx); err != nil {
		t.Fatal(err)
	}
	if again, _ := h.inspector.ListPendingTasks(tasks.QueueSide); len(again) != 1 {
		t.Errorf("%d e-mail tasks pending after the e-mail went, want no new one", len(again))
	}
}

// smtpMailer is an SMTPMailer for s with scheme smtp or smtps, trusting its certificate.
func smtpMailer(t *testing.T, s *storagetest.SMTPServer, scheme string) *SMTPMailer {
	t.Helper()
	m, err := NewSMTPMailer(scheme+"://"+s.Addr, "sso@example.test", &tls.Config{RootCAs: s.Roots, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// total is how many messages s accepted.
func total(s *storagetest.SMTPServer) int {
	n := 0
	for _, c := range s.Received() {
		n += c
	}
	return n
}

// discard is an SMTP session that accepts and forgets everything.
type discard struct{}

func (discard) Reset()                               {}
func (discard) Logout() error                        { return nil }
func (discard) Mail(string, *smtp.MailOptions) error { return nil }
func (discard) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (discard) Data(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}
