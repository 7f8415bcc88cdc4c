package console_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/api"
	"github.com/ssosetup/ssosetup/console"
	"github.com/ssosetup/ssosetup/enqueue"
	"github.com/ssosetup/ssosetup/storage/clickhouse"
	"github.com/ssosetup/ssosetup/storage/postgres"
	"github.com/ssosetup/ssosetup/storage/storagetest"
	"github.com/ssosetup/ssosetup/worker"
	"github.com/ssosetup/ssosetup/worker/workertest"
)

const (
	operator = "operator"
	password = "correct-horse-battery"
)

// world is the API with the console mounted, a real worker behind it, and a seeded organization.
type world struct {
	t         *testing.T
	db        *storagetest.DB
	store     *postgres.Store
	submitter *enqueue.Submitter
	srv       *httptest.Server
	org       int64
	admin     int64
}

func newWorld(t *testing.T, readOnly bool) *world {
	t.Helper()
	db := storagetest.NewDB(t)
	store := postgres.NewStore(db.Pool)
	opt, err := asynq.ParseRedisURI(storagetest.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(opt)
	t.Cleanup(func() { client.Close() })
	ch, err := clickhouse.Open(db.Ctx, storagetest.ClickHouseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.Close() })
	workertest.Run(t, worker.Config{Redis: opt, Store: store, Events: clickhouse.NewEvents(ch),
		Logger: storagetest.Logger(t), Concurrency: 8, ShutdownTimeout: 2 * time.Second})
	sub := enqueue.New(store, client)
	srv := httptest.NewServer(api.Handler(api.Config{Submitter: sub, Store: store, Logger: storagetest.Logger(t),
		Token: "api-token-for-tests", DashboardUser: operator, DashboardPassword: password,
		Console: console.Handler(console.Config{Store: store, Submitter: sub, Logger: storagetest.Logger(t),
			ReadOnly: readOnly, Dashboard: "/monitoring", TraceURL: "https://traces.example/trace/{trace_id}"})}))
	t.Cleanup(srv.Close)
	w := &world{t: t, db: db, store: store, submitter: sub, srv: srv, org: db.Org("acme", false), admin: db.User("ada")}
	return w
}

// request is an admin's setup of the world's org; its provider config and identity data hold secrets.
func (w *world) request() ssosetup.Request {
	return ssosetup.Request{Flow: ssosetup.FlowSetup, OrganizationID: w.org, UserID: w.admin, Authenticated: true,
		PipelineUserID: w.admin, Provider: &ssosetup.Provider{Key: "okta", Config: map[string]any{"domain": "acme.okta.com"}},
		Identity: ssosetup.Identity{ID: "ada-idp", Data: map[string]any{"name": "Ada"}}}
}

// finished submits req and waits for its end.
func (w *world) finished(req ssosetup.Request) ssosetup.SetupStatus {
	w.t.Helper()
	id, _, err := w.submitter.Submit(w.db.Ctx, req, enqueue.Options{})
	if err != nil {
		w.t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		st, err := w.store.SetupStatus(w.db.Ctx, id)
		if err != nil {
			w.t.Fatal(err)
		}
		if ssosetup.IsFinished(st.Status) {
			return st
		}
	}
	w.t.Fatalf("setup %s did not finish", id)
	return ssosetup.SetupStatus{}
}

// browserless is an operator's HTTP client: basic auth, and a cookie jar for the CSRF cookie.
type browserless struct {
	t      *testing.T
	base   string
	client *http.Client
	auth   bool
}

func (w *world) operator() *browserless {
	jar, _ := cookiejar.New(nil)
	return &browserless{t: w.t, base: w.srv.URL, auth: true, client: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browserless) get(path string) (int, string) {
	b.t.Helper()
	return b.do("GET", path, nil, nil)
}

func (b *browserless) post(path string, form url.Values, header http.Header) (int, string) {
	b.t.Helper()
	return b.do("POST", path, form, header)
}

func (b *browserless) do(method, path string, form url.Values, header http.Header) (int, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", b.base) // a browser sends it with every form
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if b.auth {
		req.SetBasicAuth(operator, password)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if loc := resp.Header.Get("Location"); loc != "" {
		return resp.StatusCode, loc
	}
	return resp.StatusCode, string(raw)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([0-9a-f]{32})"`)

// csrf is the token of the forms on a page.
func csrf(t *testing.T, page string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token on the page:\n%s", page)
	}
	return m[1]
}

func mustContain(t *testing.T, page string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(page, p) {
			t.Errorf("the page lacks %q", p)
		}
	}
}
