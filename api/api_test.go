package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/ssosetup/ssosetup/api"
	"github.com/ssosetup/ssosetup/enqueue"
	"github.com/ssosetup/ssosetup/storage/postgres"
	"github.com/ssosetup/ssosetup/storage/storagetest"
)

const token = "test-token"

// newHandler is the API on a fresh schema and Redis database; its ClickHouse readiness check always fails.
func newHandler(tb testing.TB) (http.Handler, *postgres.Store) {
	tb.Helper()
	store := postgres.NewStore(storagetest.Postgres(tb))
	opt, err := asynq.ParseRedisURI(storagetest.RedisURL(tb))
	if err != nil {
		tb.Fatal(err)
	}
	client := asynq.NewClient(opt)
	tb.Cleanup(func() { client.Close() })
	return api.Handler(api.Config{
		Submitter: enqueue.New(store, client), Store: store, Logger: storagetest.Logger(tb), Token: token,
		Readiness: []api.Check{
			{Name: "postgres", Ping: store.Pool().Ping},
			{Name: "clickhouse", Ping: func(context.Context) error { return io.ErrUnexpectedEOF }},
		},
	}), store
}

func newAPI(t *testing.T) (*httptest.Server, *postgres.Store) {
	t.Helper()
	handler, store := newHandler(t)
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return srv, store
}

func do(t *testing.T, srv *httptest.Server, method, path, auth string, body string, header ...string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: body is not JSON: %q", method, path, raw)
	}
	return resp.StatusCode, out
}

const validBody = `{"organization_id": 1, "user_id": 7, "authenticated": true, "pipeline_user_id": 7,
	"provider": {"key": "okta", "config": {"client_secret": "s3cr3t"}}, "identity": {"id": "00u1"}}`

func TestCreateAndGetSetup(t *testing.T) {
	t.Parallel()
	srv, _ := newAPI(t)
	code, body := do(t, srv, "POST", "/v1/setups", token, validBody)
	if code != http.StatusAccepted || body["status"] != "queued" {
		t.Fatalf("POST = %d %v", code, body)
	}
	id := body["setup_id"].(string)
	if body["status_url"] != "/v1/setups/"+id {
		t.Errorf("status_url = %v", body["status_url"])
	}
	code, st := do(t, srv, "GET", "/v1/setups/"+id, token, "")
	if code != http.StatusOK || st["status"] != "queued" || st["flow"] != "setup" || st["error"] != nil {
		t.Errorf("GET = %d %v", code, st)
	}
	raw, _ := json.Marshal(st)
	if bytes.Contains(raw, []byte("s3cr3t")) {
		t.Errorf("status leaks the secret: %s", raw)
	}
}

func TestErrorsAndAuth(t *testing.T) {
	t.Parallel()
	srv, _ := newAPI(t)
	cases := []struct {
		name, method, path, auth, body string
		status                         int
		code                           string
		field                          string
	}{
		{"no token", "POST", "/v1/setups", "", validBody, 401, "unauthorized", ""},
		{"wrong token", "GET", "/v1/setups/x", "nope", "", 401, "unauthorized", ""},
		{"malformed json", "POST", "/v1/setups", token, `{"user_id": `, 400, "invalid_request", "(body)"},
		{"wrong type", "POST", "/v1/setups", token, `{"organization_id": "one", "user_id": 7}`, 400, "invalid_request", "organization_id"},
		{"unknown field", "POST", "/v1/setups", token, `{"organization_id": 1, "user_id": 7, "admin": true}`, 400, "invalid_request", "admin"},
		{"missing provider", "POST", "/v1/setups", token, `{"organization_id": 1, "user_id": 7}`, 400, "invalid_request", "provider.key"},
		{"bad flow", "POST", "/v1/setups", token, `{"flow": "x", "organization_id": 1, "user_id": 7}`, 400, "invalid_request", "flow"},
		{"too large", "POST", "/v1/setups", token, `{"referrer": "` + strings.Repeat("a", api.MaxBodyBytes) + `"}`, 413, "payload_too_large", ""},
		{"unknown id", "GET", "/v1/setups/01a2230d-42b0-74ef-ad6c-a713ede7308d", token, "", 404, "not_found", ""},
		{"invalid id", "GET", "/v1/setups/not-a-uuid", token, "", 404, "not_found", ""},
	}
	for _, tc := range cases {
		code, body := do(t, srv, tc.method, tc.path, tc.auth, tc.body)
		errObj, _ := body["error"].(map[string]any)
		if code != tc.status || errObj == nil || errObj["code"] != tc.code || errObj["message"] == "" {
			t.Errorf("%s: %d %v, want %d %s", tc.name, code, body, tc.status, tc.code)
			continue
		}
		if tc.field != "" {
			if fields, _ := errObj["fields"].(map[string]any); fields[tc.field] == nil {
				t.Errorf("%s: fields %v lack %q", tc.name, errObj["fields"], tc.field)
			}
		}
	}
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	srv, store := newAPI(t)
	code1, first := do(t, srv, "POST", "/v1/setups", token, validBody, "Idempotency-Key", "k1")
	code2, again := do(t, srv, "POST", "/v1/setups", token, validBody, "Idempotency-Key", "k1")
	if code1 != 202 || code2 != 200 || first["setup_id"] != again["setup_id"] {
		t.Errorf("repeat: %d %v then %d %v", code1, first, code2, again)
	}
	other := strings.Replace(validBody, `"00u1"`, `"00u2"`, 1)
	if code, body := do(t, srv, "POST", "/v1/setups", token, other, "Idempotency-Key", "k1"); code != 409 {
		t.Errorf("other body, same key: %d %v", code, body)
	}
	var n int
	if err := store.Pool().QueryRow(context.Background(), `SELECT count(*) FROM setups`).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d setups recorded (%v), want 1", n, err)
	}
}

func TestBatchRejectsOnlyBadItems(t *testing.T) {
	t.Parallel()
	srv, _ := newAPI(t)
	code, body := do(t, srv, "POST", "/v1/setups/batch", token, `{"setups": [`+validBody+`, {"user_id": -1}, `+validBody+`]}`)
	results, _ := body["results"].([]any)
	if code != 202 || len(results) != 3 {
		t.Fatalf("batch = %d %v", code, body)
	}
	for i, wantOK := range []bool{true, false, true} {
		item := results[i].(map[string]any)
		if _, ok := item["setup_id"]; ok != wantOK {
			t.Errorf("item %d = %v", i, item)
		}
	}
}

func TestProbes(t *testing.T) {
	t.Parallel()
	srv, _ := newAPI(t)
	if code, _ := do(t, srv, "GET", "/healthz", "", ""); code != 200 {
		t.Errorf("healthz = %d", code)
	}
	code, body := do(t, srv, "GET", "/readyz", "", "")
	down, _ := body["unreachable"].([]any)
	if code != 503 || len(down) != 1 || down[0] != "clickhouse" {
		t.Errorf("readyz = %d %v, want 503 naming clickhouse only", code, body)
	}
	if raw, _ := json.Marshal(body); strings.Contains(string(raw), io.ErrUnexpectedEOF.Error()) {
		t.Errorf("readyz shows the driver's error: %s", raw)
	}
}
