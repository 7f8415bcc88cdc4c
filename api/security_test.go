package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/ssosetup/ssosetup/api"
	"github.com/ssosetup/ssosetup/storage/postgres"
	"github.com/ssosetup/ssosetup/storage/storagetest"
)

// setupCount counts the recorded jobs: a refused request must not have recorded one.
func setupCount(t *testing.T, store *postgres.Store) int {
	t.Helper()
	var n int
	if err := store.Pool().QueryRow(context.Background(), `SELECT count(*) FROM setups`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Bad input is answered with a 4xx that tells the client not to retry, and records nothing (SPEC §4).
func TestBadInputGets400AndChangesNothing(t *testing.T) {
	t.Parallel()
	srv, store := newAPI(t)
	event := func(message string) string {
		return strings.Replace(validBody, `"identity"`, `"event": {"message": "`+message+`"}, "identity"`, 1)
	}
	for _, tc := range []struct {
		name, body string
		header     []string
		status     int
		field      string
	}{
		{"lone surrogate in the event", event(`\ud800`), nil, 400, "(body)"},
		{"lone low surrogate", event(`a\udfffb`), nil, 400, "(body)"},
		{"raw invalid UTF-8 in the event", event("\xff\xfe"), nil, 400, "(body)"},
		{"invalid UTF-8 in a string field", strings.Replace(validBody, "00u1", "00u\xc3", 1), nil, 400, "(body)"},
		{"idempotency key too long", validBody, []string{"Idempotency-Key", strings.Repeat("k", 256)}, 400, "Idempotency-Key"},
		{"idempotency key with a control character", validBody, []string{"Idempotency-Key", "a\tb"}, 400, "Idempotency-Key"},
		{"idempotency key not ASCII", validBody, []string{"Idempotency-Key", "clé"}, 400, "Idempotency-Key"},
	} {
		code, body := do(t, srv, "POST", "/v1/setups", token, tc.body, tc.header...)
		errObj, _ := body["error"].(map[string]any)
		fields, _ := errObj["fields"].(map[string]any)
		if code != tc.status || errObj["code"] != "invalid_request" || fields[tc.field] == nil {
			t.Errorf("%s: %d %v, want %d naming %s", tc.name, code, body, tc.status, tc.field)
		}
	}
	if n := setupCount(t, store); n != 0 {
		t.Errorf("%d jobs recorded from bad input", n)
	}
	// The limits themselves are accepted.
	if code, body := do(t, srv, "POST", "/v1/setups", token, event(`\ud83d\ude00`), "Idempotency-Key", strings.Repeat("k", 255)); code != 202 {
		t.Errorf("a surrogate pair and a 255-character key: %d %v", code, body)
	}
}

func TestBatchLimits(t *testing.T) {
	t.Parallel()
	srv, store := newAPI(t)
	big := strings.Replace(validBody, `"identity"`, `"referrer": "`+strings.Repeat("r", api.MaxBodyBytes)+`", "identity"`, 1)
	code, body := do(t, srv, "POST", "/v1/setups/batch", token, `{"setups": [`+validBody+`, `+big+`]}`)
	results, _ := body["results"].([]any)
	if code != 202 || len(results) != 2 {
		t.Fatalf("batch with one oversize item: %d %v", code, body)
	}
	if item, _ := results[1].(map[string]any); item["error"].(map[string]any)["code"] != "payload_too_large" {
		t.Errorf("oversize item: %v", item)
	}
	if _, ok := results[0].(map[string]any)["setup_id"]; !ok {
		t.Errorf("the valid item was not accepted: %v", results[0])
	}

	items := strings.TrimSuffix(strings.Repeat(`{"user_id": 1},`, api.MaxBatch+1), ",")
	if code, body := do(t, srv, "POST", "/v1/setups/batch", token, `{"setups": [`+items+`]}`); code != 400 {
		t.Errorf("%d items: %d %v", api.MaxBatch+1, code, body)
	}
	huge := `{"setups": [` + strings.Repeat(" ", api.MaxBatchBodyBytes) + `]}`
	if code, body := do(t, srv, "POST", "/v1/setups/batch", token, huge); code != 413 {
		t.Errorf("a body over 16 MiB: %d %v", code, body)
	}
	if code, body := do(t, srv, "POST", "/v1/setups/batch", token, `{"setups": [`+validBody+`, "\ud800"]}`); code != 400 {
		t.Errorf("a lone surrogate in a batch: %d %v", code, body)
	}
	if n := setupCount(t, store); n != 1 {
		t.Errorf("%d jobs recorded, want 1 (the valid item of the first batch)", n)
	}
}

// A page elsewhere cannot make an operator's browser change anything on the dashboard (SPEC §4): state-changing
// requests need the browser's proof of the same origin; reads and same-origin writes pass.
func TestDashboardRefusesCrossOriginWrites(t *testing.T) {
	t.Parallel()
	var reached []string
	dashboard := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached = append(reached, r.Method+" "+r.Header.Get("Origin")+r.Header.Get("Sec-Fetch-Site"))
		w.WriteHeader(http.StatusNoContent)
	})
	srv := httptest.NewServer(api.Handler(api.Config{
		Logger: storagetest.Logger(t), Token: token, Dashboard: dashboard,
		DashboardUser: "operator", DashboardPassword: "Zq3vT9xLw2pK",
	}))
	defer srv.Close()
	self := srv.URL
	host := strings.TrimPrefix(self, "http://")
	for _, tc := range []struct {
		name, method string
		header       []string
		want         int
	}{
		{"form from another site", "POST", []string{"Origin", "https://evil.example", "Content-Type", "application/x-www-form-urlencoded"}, 403},
		{"cross-site fetch", "DELETE", []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}, 403},
		{"same-site but another origin", "POST", []string{"Sec-Fetch-Site", "same-site"}, 403},
		{"origin naming another port", "POST", []string{"Origin", "http://" + strings.Split(host, ":")[0] + ":1"}, 403},
		{"no origin at all", "POST", nil, 403},
		{"same origin by Sec-Fetch-Site", "POST", []string{"Sec-Fetch-Site", "same-origin"}, 204},
		{"same origin by Origin", "DELETE", []string{"Origin", self}, 204},
		{"a read from anywhere", "GET", []string{"Sec-Fetch-Site", "cross-site"}, 204},
	} {
		req, err := http.NewRequest(tc.method, self+"/monitoring/api/queues/sso_setups/pending_tasks:archive_all", strings.NewReader(url.Values{"x": {"1"}}.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth("operator", "Zq3vT9xLw2pK")
		for i := 0; i+1 < len(tc.header); i += 2 {
			req.Header.Set(tc.header[i], tc.header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
	}
	if len(reached) != 3 {
		t.Errorf("the dashboard was reached by %d requests (%v), want 3", len(reached), reached)
	}
	// Without credentials, nothing gets through at all.
	req, _ := http.NewRequest("POST", self+"/monitoring/api/queues", nil)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("without credentials: %d, want 401", resp.StatusCode)
	}
}

func TestServerLimits(t *testing.T) {
	srv := api.NewServer(":0", http.NotFoundHandler())
	if srv.ReadHeaderTimeout != api.HeaderReadTimeout || srv.ReadTimeout != api.BodyReadTimeout ||
		srv.IdleTimeout != api.IdleTimeout || srv.WriteTimeout < api.MaxWait || srv.MaxHeaderBytes != 64<<10 {
		t.Errorf("server limits %+v", srv)
	}
	// A header block over the limit is refused before any handler runs.
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("handler reached with oversize headers")
	}))
	ts.Config = api.NewServer("", ts.Config.Handler)
	ts.Start()
	defer ts.Close()
	req, _ := http.NewRequest("GET", ts.URL, nil)
	req.Header.Set("X-Big", strings.Repeat("h", 80<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("oversize headers: %d, want 431", resp.StatusCode)
	}
}
