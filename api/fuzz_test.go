package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzCreateSetup posts arbitrary bodies: the answer is 202 or a 4xx error document with a message, never a
// server error or a panic.
func FuzzCreateSetup(f *testing.F) {
	f.Add(validBody)
	f.Add(`{"flow": "link", "organization_slug": "acme", "user_id": 1, "event": {"tags": [["a", "b"]]}}`)
	f.Add(`{"organization_id": 1e400}`)
	f.Add(`{"user_id": 7, "identity": {"data": {"x": [1, {"y": null}]}}, "invite": {"member_id": "9"}}`)
	f.Add("\x00{")
	f.Add(`{"organization_slug": "a\u0000b", "user_id": 1, "provider": {"key": "k"}}`)
	f.Add(`{"organization_id": 1, "user_id": 1, "provider": {"key": "k", "config": {"x": "\u0000"}}}`)
	handler, _ := newHandler(f)
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, "/v1/setups", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code == http.StatusAccepted {
			return
		}
		var doc struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if rec.Code < 400 || rec.Code >= 500 || json.Unmarshal(rec.Body.Bytes(), &doc) != nil || doc.Error.Message == "" {
			t.Fatalf("body %q: %d %s", body, rec.Code, rec.Body.String())
		}
	})
}
