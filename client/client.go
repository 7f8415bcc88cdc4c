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
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client talks to one API.
type Client struct {
	BaseURL string // e.g. http://127.0.0.1:8080
	Token   string
	HTTP    *http.Client
}

// New returns a client with a 30 s request timeout (longer than its long-polls).
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

// Wait long-polls a job until it finished (succeeded, failed or cancelled), or ctx ends.
func (c *Client) Wait(ctx context.Context, id string) (Status, error) {
	for {
		var st Status
		raw, err := c.do(ctx, http.MethodGet, "/v1/setups/"+url.PathEscape(id)+"?wait="+longPoll, nil, nil, &st)
		st.Raw = raw
		if err != nil || finished(st.Status) {
			return st, err
		}
	}
}

// longPoll is how long one request of Wait waits; the client's timeout must be longer.
const longPoll = "25s"

func finished(status string) bool {
	return status == "succeeded" || status == "failed" || status == "cancelled"
}

// Cancel cancels a job at its next stage boundary (SPEC §10).
func (c *Client) Cancel(ctx context.Context, id string) (Status, error) {
	var st Status
	raw, err := c.do(ctx, http.MethodPost, "/v1/setups/"+url.PathEscape(id)+"/cancel", nil, nil, &st)
	st.Raw = raw
	return st, err
}

// Retry retries a failed or cancelled job from where it stopped; a repeat with the same idempotency key
// retries nothing again.
func (c *Client) Retry(ctx context.Context, id, idempotencyKey string) (Status, error) {
	var st Status
	header := http.Header{}
	if idempotencyKey != "" {
		header.Set("Idempotency-Key", idempotencyKey)
	}
	raw, err := c.do(ctx, http.MethodPost, "/v1/setups/"+url.PathEscape(id)+"/retry", nil, header, &st)
	st.Raw = raw
	return st, err
}

// ListFilter selects jobs; zero fields do not filter.
type ListFilter struct {
	Status, Flow, ErrorCode, OrganizationSlug, BatchID string
	OrganizationID, UserID                             int64
	Limit                                              int
	Cursor                                             string
}

// Page is one page of the job list.
type Page struct {
	Setups     []json.RawMessage `json:"setups"`
	NextCursor *string           `json:"next_cursor"`
}

// List reads one page of jobs, newest first.
func (c *Client) List(ctx context.Context, f ListFilter) (Page, error) {
	q := url.Values{}
	for k, v := range map[string]string{"status": f.Status, "flow": f.Flow, "error_code": f.ErrorCode,
		"organization_slug": f.OrganizationSlug, "batch_id": f.BatchID, "cursor": f.Cursor} {
		if v != "" {
			q.Set(k, v)
		}
	}
	for k, v := range map[string]int64{"organization_id": f.OrganizationID, "user_id": f.UserID, "limit": int64(f.Limit)} {
		if v != 0 {
			q.Set(k, strconv.FormatInt(v, 10))
		}
	}
	var p Page
	_, err := c.do(ctx, http.MethodGet, "/v1/setups?"+q.Encode(), nil, nil, &p)
	return p, err
}

// BatchCreated is the answer to a submitted batch.
type BatchCreated struct {
	BatchID string `json:"batch_id"`
	Results []struct {
		SetupID string    `json:"setup_id,omitempty"`
		Error   *APIError `json:"error,omitempty"`
	} `json:"results"`
}

// SubmitBatch posts a batch body ({"setups": [...]}).
func (c *Client) SubmitBatch(ctx context.Context, body []byte, idempotencyKey string) (BatchCreated, error) {
	var out BatchCreated
	header := http.Header{}
	if idempotencyKey != "" {
		header.Set("Idempotency-Key", idempotencyKey)
	}
	_, err := c.do(ctx, http.MethodPost, "/v1/setups/batch", body, header, &out)
	return out, err
}

// Batch is a batch's document.
type Batch struct {
	BatchID        string         `json:"batch_id"`
	FinishedAt     *string        `json:"finished_at"`
	Total          int            `json:"total"`
	Counts         map[string]int `json:"counts"`
	FailuresByCode map[string]int `json:"failures_by_code"`
}

// Done is how many of the batch's jobs finished.
func (b Batch) Done() int { return b.Counts["succeeded"] + b.Counts["failed"] + b.Counts["cancelled"] }

// Batch reads a batch's document; with wait > 0 it long-polls for the batch to finish, up to wait.
func (c *Client) Batch(ctx context.Context, id string, wait time.Duration) (Batch, error) {
	var b Batch
	path := "/v1/batches/" + url.PathEscape(id)
	if wait > 0 {
		path += "?wait=" + wait.String()
	}
	_, err := c.do(ctx, http.MethodGet, path, nil, nil, &b)
	return b, err
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
