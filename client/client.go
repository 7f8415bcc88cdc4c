// Package client is a small Go client of the ssosetup HTTP API (SPEC §5), for programs that do not link the
// enqueue package; the CLI's enqueue and status commands use it.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Client talks to one API.
type Client struct {
	BaseURL string // e.g. http://127.0.0.1:8080
	Token   string
	HTTP    *http.Client
}

// New returns a client with a 30 s request timeout.
func New(baseURL, token string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), Token: token, HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// APIError is an error document returned by the API.
type APIError struct {
	Status  int               `json:"-"`
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("%s (HTTP %d): %s", e.Code, e.Status, e.Message)
	for k, v := range e.Fields {
		s += fmt.Sprintf("; %s: %s", k, v)
	}
	return s
}

// Created is the answer to a submitted job.
type Created struct {
	SetupID   string `json:"setup_id"`
	Status    string `json:"status"`
	StatusURL string `json:"status_url"`
}

// Status is a job's status document; the fields a client acts on are typed, the rest is kept in Raw.
type Status struct {
	SetupID string          `json:"setup_id"`
	Status  string          `json:"status"`
	Stage   string          `json:"stage"`
	Error   *JobError       `json:"error"`
	Raw     json.RawMessage `json:"-"`
}

// JobError is a failed job's error.
type JobError struct {
	Code     string `json:"code"`
	Message  string `json:"message"`
	Redirect string `json:"redirect"`
}

// Submit posts one request body (JSON) and returns the created job.
func (c *Client) Submit(ctx context.Context, body []byte, idempotencyKey string) (Created, error) {
	var out Created
	header := http.Header{}
	if idempotencyKey != "" {
		header.Set("Idempotency-Key", idempotencyKey)
	}
	_, err := c.do(ctx, http.MethodPost, "/v1/setups", body, header, &out)
	return out, err
}

// Status reads a job's status.
func (c *Client) Status(ctx context.Context, id string) (Status, error) {
	var out Status
	raw, err := c.do(ctx, http.MethodGet, "/v1/setups/"+id, nil, nil, &out)
	out.Raw = raw
	return out, err
}

// Wait polls a job until it succeeded or failed, or ctx ends.
func (c *Client) Wait(ctx context.Context, id string, every time.Duration) (Status, error) {
	for {
		st, err := c.Status(ctx, id)
		if err != nil || st.Status == "succeeded" || st.Status == "failed" || st.Status == "cancelled" {
			return st, err
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(every):
		}
	}
}

func (c *Client) do(ctx context.Context, method, path string, body []byte, header http.Header, out any) (json.RawMessage, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reach the API at %s (SSOSETUP_API_URL): %w", c.BaseURL, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		var doc struct {
			Error APIError `json:"error"`
		}
		if json.Unmarshal(raw, &doc) != nil || doc.Error.Code == "" {
			return raw, &APIError{Status: resp.StatusCode, Code: "http_error", Message: strings.TrimSpace(string(raw))}
		}
		doc.Error.Status = resp.StatusCode
		return raw, &doc.Error
	}
	return raw, json.Unmarshal(raw, out)
}
