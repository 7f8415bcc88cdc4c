package api_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ssosetup/ssosetup/api"
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

// FuzzBatch posts arbitrary batch bodies: never a server error, and each item's answer is a setup id or an
// error document.
func FuzzBatch(f *testing.F) {
	f.Add(`{"setups": [` + validBody + `, {"user_id": -1}]}`)
	f.Add(`{"setups": ["\ud800"]}`)
	f.Add(`{"setups": [{"event": {"m": "\udc00"}}], "priority": 1}`)
	f.Add("{\"setups\": [\"\xff\"]}")
	handler, _ := newHandler(f)
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, "/v1/setups/batch", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("body %q: %d %s", body, rec.Code, rec.Body.String())
		}
	})
}

// FuzzRawRequest writes arbitrary bytes as the header block and body of a request to the real API behind
// the product's server limits, over TCP: whatever arrives, the answer is never a server error, and the
// connection is answered or closed rather than left hanging. The message's framing (Content-Length,
// Transfer-Encoding, Connection) is the test's own, so that every input is one complete request: parsing
// framing is net/http's business, and a body shorter than its length would only wait out the read timeout.
func FuzzRawRequest(f *testing.F) {
	f.Add([]byte("Idempotency-Key: k1\r\n"), []byte(validBody))
	f.Add([]byte("Idempotency-Key: \xff\xfe\r\n"), []byte(validBody))
	f.Add([]byte("Content-Type: text/plain; charset=\xff\r\nX: \r\n"), []byte(`{"a":`))
	f.Add([]byte("X-Big: "+strings.Repeat("h", 70<<10)+"\r\n"), []byte(`{}`))
	f.Add([]byte(""), []byte(`{"event": {"m": "\ud800"}}`))
	handler, _ := newHandler(f)
	srv := httptest.NewUnstartedServer(handler)
	srv.Config = api.NewServer("", handler)
	srv.Start()
	f.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")
	f.Fuzz(func(t *testing.T, headers, body []byte) {
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(api.BodyReadTimeout + 10*time.Second))
		var req bytes.Buffer
		fmt.Fprintf(&req, "POST /v1/setups HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n", addr, token)
		for _, line := range bytes.SplitAfter(headers, []byte("\n")) {
			name, _, _ := bytes.Cut(bytes.ToLower(bytes.TrimSpace(line)), []byte(":"))
			switch string(bytes.TrimSpace(name)) {
			case "content-length", "transfer-encoding", "connection":
				continue
			}
			req.Write(line)
		}
		if len(headers) > 0 && headers[len(headers)-1] != '\n' {
			req.WriteString("\r\n")
		}
		fmt.Fprintf(&req, "Content-Length: %d\r\nConnection: close\r\n\r\n", len(body))
		req.Write(body)
		if _, err := conn.Write(req.Bytes()); err != nil {
			return // the server closed early on a malformed request: fine
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("no answer and no close to headers %q", headers)
			}
			return // closed without an answer, as net/http does for unparsable requests
		}
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("headers %q body %q: %d", headers, body, resp.StatusCode)
		}
	})
}
