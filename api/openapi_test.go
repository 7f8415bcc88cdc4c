package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/hibiken/asynq"

	"github.com/ssosetup/ssosetup/api"
	"github.com/ssosetup/ssosetup/enqueue"
	"github.com/ssosetup/ssosetup/storage/clickhouse"
	"github.com/ssosetup/ssosetup/storage/postgres"
	"github.com/ssosetup/ssosetup/storage/storagetest"
	"github.com/ssosetup/ssosetup/worker"
	"github.com/ssosetup/ssosetup/worker/workertest"
)

// conformance is an API with a real worker behind it, whose every request and response is checked against
// /v1/openapi.json with kin-openapi.
type conformance struct {
	t      *testing.T
	srv    *httptest.Server
	router routers.Router
	db     *storagetest.DB
	seen   map[string]bool // "<operation> <status>" answered
}

func newConformance(t *testing.T) *conformance {
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
	notifier := store.NewNotifier(storagetest.Logger(t))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go notifier.Run(ctx)
	srv := httptest.NewServer(api.Handler(api.Config{Submitter: enqueue.New(store, client), Store: store,
		Logger: storagetest.Logger(t), Token: token, Notifier: notifier}))
	t.Cleanup(srv.Close)

	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("openapi.json is not a valid OpenAPI 3 document: %v", err)
	}
	doc.Servers = openapi3.Servers{{URL: srv.URL}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &conformance{t: t, srv: srv, router: router, db: db, seen: map[string]bool{}}
}

// call sends a request, checks it and the answer against the document, and returns the answer.
func (c *conformance) call(method, path, body string, header ...string) (int, map[string]any) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.srv.URL+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		c.t.Fatalf("%s %s is not in openapi.json: %v", method, path, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	reqErr := openapi3filter.ValidateRequest(context.Background(), in)
	req.Body = io.NopCloser(strings.NewReader(body)) // the validator read it
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if reqErr != nil && resp.StatusCode < 400 {
		c.t.Errorf("%s %s: a request the document refuses (%v) was answered %d", method, path, reqErr, resp.StatusCode)
	}
	err = openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header, Body: io.NopCloser(bytes.NewReader(raw)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true}})
	if err != nil {
		c.t.Errorf("%s %s → %d does not match openapi.json: %v\n%s", method, path, resp.StatusCode, err, raw)
	}
	c.seen[fmt.Sprintf("%s %d", route.Operation.OperationID, resp.StatusCode)] = true
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		c.t.Fatalf("%s %s: not JSON: %s", method, path, raw)
	}
	return resp.StatusCode, out
}

func (c *conformance) want(status int, got int, out map[string]any, what string) {
	c.t.Helper()
	if got != status {
		c.t.Errorf("%s: %d %v, want %d", what, got, out, status)
	}
}

// Every endpoint, driven as a web tier drives it with a worker running behind it — including refusals —
// answers as openapi.json says, in status, headers and body.
func TestAPIConformsToOpenAPI(t *testing.T) {
	t.Parallel()
	c := newConformance(t)
	org, admin := c.db.Org("acme", false), c.db.User("ada")
	c.db.Member(org, admin, "owner")
	setup := fmt.Sprintf(`{"organization_id": %d, "user_id": %d, "authenticated": true, "pipeline_user_id": %d,
		"provider": {"key": "okta", "config": {"domain": "acme.okta.com"}}, "identity": {"id": "ada-idp"}}`, org, admin, admin)
	notMember := fmt.Sprintf(`{"organization_id": %d, "user_id": %d, "authenticated": true, "pipeline_user_id": %d,
		"provider": {"key": "okta", "config": {"domain": "x"}}, "identity": {"id": "x"}}`, c.db.Org("other", false), admin, admin)

	st, out := c.call("POST", "/v1/setups", setup, "Idempotency-Key", "k-1")
	c.want(202, st, out, "create")
	id, _ := out["setup_id"].(string)
	st, out = c.call("POST", "/v1/setups", setup, "Idempotency-Key", "k-1")
	c.want(200, st, out, "repeat")
	st, out = c.call("POST", "/v1/setups", notMember, "Idempotency-Key", "k-1")
	c.want(409, st, out, "key with another body")
	st, out = c.call("POST", "/v1/setups", `{"user_id": "seven"}`)
	c.want(400, st, out, "bad body")

	st, out = c.call("GET", "/v1/setups/"+id+"?wait=30s", "")
	c.want(200, st, out, "long-poll")
	if out["status"] != "succeeded" {
		t.Fatalf("job after a long-poll: %v", out)
	}
	st, out = c.call("GET", "/v1/setups/"+id+"?wait=2m", "")
	c.want(400, st, out, "wait too long")
	st, out = c.call("GET", "/v1/setups/0e0e0e0e-0000-4000-8000-000000000000", "")
	c.want(404, st, out, "unknown job")
	st, out = c.call("POST", "/v1/setups/"+id+"/cancel", "")
	c.want(409, st, out, "cancel a succeeded job")
	st, out = c.call("POST", "/v1/setups/"+id+"/retry", "")
	c.want(409, st, out, "retry a succeeded job")

	st, out = c.call("POST", "/v1/setups/batch", `{"setups": [`+notMember+`, `+notMember+`, {"user_id": -1}]}`, "Idempotency-Key", "b-1")
	c.want(202, st, out, "batch")
	batch, _ := out["batch_id"].(string)
	st, out = c.call("POST", "/v1/setups/batch", `{"setups": [`+notMember+`, `+notMember+`, {"user_id": -1}]}`, "Idempotency-Key", "b-1")
	c.want(200, st, out, "batch repeat")
	if out["batch_id"] != batch {
		t.Errorf("a repeated batch got another id: %v", out)
	}
	st, out = c.call("POST", "/v1/setups/batch", `{"setups": []}`)
	c.want(400, st, out, "empty batch")
	st, out = c.call("GET", "/v1/batches/"+batch+"?wait=30s", "")
	c.want(200, st, out, "batch long-poll")
	if counts, _ := out["counts"].(map[string]any); out["finished_at"] == nil || counts["failed"] != float64(2) || out["total"] != float64(2) {
		t.Errorf("batch after a long-poll: %v", out)
	}

	st, out = c.call("GET", "/v1/setups?batch_id="+batch+"&status=failed&error_code=not_a_member&limit=1", "")
	c.want(200, st, out, "list")
	page1, _ := out["setups"].([]any)
	cursor, _ := out["next_cursor"].(string)
	st, out = c.call("GET", "/v1/setups?batch_id="+batch+"&status=failed&error_code=not_a_member&limit=1&cursor="+cursor, "")
	c.want(200, st, out, "list, page 2")
	page2, _ := out["setups"].([]any)
	if len(page1) != 1 || len(page2) != 1 || out["next_cursor"] != nil ||
		page1[0].(map[string]any)["setup_id"] == page2[0].(map[string]any)["setup_id"] {
		t.Errorf("two pages of one: %v then %v (next %v)", page1, page2, out["next_cursor"])
	}
	st, out = c.call("GET", "/v1/setups?status=done&limit=0&color=red", "")
	c.want(400, st, out, "bad filters")
	if fields, _ := out["error"].(map[string]any)["fields"].(map[string]any); len(fields) != 3 {
		t.Errorf("bad filters named: %v", out)
	}

	failed := page1[0].(map[string]any)["setup_id"].(string)
	st, out = c.call("POST", "/v1/setups/"+failed+"/retry", "", "Idempotency-Key", "r-1")
	c.want(202, st, out, "retry")
	st, out = c.call("POST", "/v1/setups/"+failed+"/retry", "", "Idempotency-Key", "r-1")
	c.want(202, st, out, "retry repeated")
	if out["retries"] != float64(1) {
		t.Errorf("a repeated retry retried again: %v", out)
	}
	st, out = c.call("POST", "/v1/setups/"+failed+"/cancel", "")
	if st != 202 && st != 409 { // cancelled, or already failed again
		t.Errorf("cancel of a retried job: %d %v", st, out)
	}
	st, out = c.call("POST", "/v1/batches/"+batch+"/retry", "")
	c.want(202, st, out, "batch retry")
	st, out = c.call("POST", "/v1/batches/"+batch+"/cancel", "")
	c.want(202, st, out, "batch cancel")
	st, out = c.call("GET", "/v1/batches/0e0e0e0e-0000-4000-8000-000000000000", "")
	c.want(404, st, out, "unknown batch")

	st, out = c.call("GET", "/v1/webhook-deliveries?state=pending", "")
	c.want(200, st, out, "delivery log")
	st, out = c.call("GET", "/v1/webhook-deliveries?state=lost", "")
	c.want(400, st, out, "bad delivery filter")
	st, out = c.call("GET", "/v1/openapi.json", "")
	c.want(200, st, out, "the document")
	t.Logf("operations and statuses checked: %d", len(c.seen))
}

// Filters that would reach Postgres as invalid text or an impossible time are refused with a 400 naming
// them, never a 5xx.
func TestListRefusesWhatPostgresCannotTake(t *testing.T) {
	t.Parallel()
	c := newConformance(t)
	huge := base64.RawURLEncoding.EncodeToString([]byte("999999999999999999.0e0e0e0e-0000-4000-8000-000000000000"))
	for name, q := range map[string]string{
		"NUL in the slug":            "organization_slug=a%00b",
		"invalid UTF-8 in a slug":    "organization_slug=%ff%fe",
		"a cursor past year 9999":    "cursor=" + huge,
		"a cursor that is no cursor": "cursor=bm9wZQ",
	} {
		st, out := c.call("GET", "/v1/setups?"+q, "")
		if st != 400 {
			t.Errorf("%s: %d %v, want 400", name, st, out)
		}
	}
}
