package eventstream

import (
	"encoding/json"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Limits of SPEC §3.6.
const (
	maxMessage     = 8192
	maxLogger      = 64  // characters
	maxRelease     = 200 // bytes, as Sentry's Release.version column
	maxEnvironment = 64  // characters
	maxTagKey      = 32
	maxTagValue    = 200
	maxUserField   = 128
	maxObjectBytes = 16 << 10
	maxFuture      = 60 * time.Second
	maxPast        = 30 * 24 * time.Hour
)

// eventIDNamespace is the UUIDv5 namespace of event ids derived from setup ids.
var eventIDNamespace = uuid.MustParse("6f1d3a5c-58c3-4c41-9d0e-5b7f0d3c2a10")

var (
	levelAliases = map[string]string{
		"fatal": "fatal", "critical": "fatal", "error": "error", "warning": "warning", "warn": "warning",
		"info": "info", "log": "info", "debug": "debug",
	}
	// pythonLevels are the numeric levels of Python's logging module, which Sentry accepts.
	pythonLevels = map[float64]string{10: "debug", 20: "info", 30: "warning", 40: "error", 50: "fatal"}
	platforms    = map[string]bool{
		"as3": true, "c": true, "cfml": true, "cocoa": true, "csharp": true, "elixir": true, "go": true,
		"groovy": true, "haskell": true, "java": true, "javascript": true, "native": true, "node": true,
		"objc": true, "other": true, "perl": true, "php": true, "python": true, "ruby": true,
	}
)

// EventError records a value the normalizer dropped or changed.
type EventError struct {
	Type  string `json:"type"`
	Name  string `json:"name"`
	Value any    `json:"value"`
}

// normalized is the canonical JSON form of an event, stored in the data column. Normalizing it again yields
// the same event.
type normalized struct {
	EventID     string         `json:"event_id"`
	Type        string         `json:"type"`
	Timestamp   string         `json:"timestamp"`
	Level       string         `json:"level"`
	Platform    string         `json:"platform"`
	Logger      string         `json:"logger,omitempty"`
	Message     string         `json:"message"`
	Release     string         `json:"release,omitempty"`
	Environment string         `json:"environment,omitempty"`
	Tags        [][2]string    `json:"tags"`
	User        map[string]any `json:"user"`
	Contexts    map[string]any `json:"contexts,omitempty"`
	Extra       map[string]any `json:"extra,omitempty"`
	Errors      []EventError   `json:"errors"`
}

// Build returns the job's event, normalized. It never fails: what cannot be used is dropped and recorded in
// the event's errors. It is deterministic: the receive time is the job's creation time, so that a re-run
// yields the same event.
func Build(j Job) Event {
	raw := map[string]any{}
	if len(j.Raw) > 0 {
		if err := json.Unmarshal(j.Raw, &raw); err != nil || raw == nil {
			raw = map[string]any{}
		}
	} else {
		raw = synthesize(j)
	}
	return normalize(j, raw)
}

// synthesize builds the event of a job whose request carried none (SPEC §3.6).
func synthesize(j Job) map[string]any {
	typ, msg := "sso.setup", "SSO enabled ("+j.Provider+")"
	if j.Flow == "link" {
		typ, msg = "sso.link", "SSO identity linked ("+j.Provider+")"
	}
	user := map[string]any{"id": strconv.FormatInt(j.UserID, 10)}
	if j.UserEmail != "" {
		user["email"] = j.UserEmail
	}
	return map[string]any{
		"type": typ, "level": "info", "platform": "other", "message": msg, "user": user,
		"timestamp": j.CreatedAt.UTC().Format(time.RFC3339),
		"tags":      map[string]any{"provider": j.Provider, "flow": j.Flow, "organization": j.OrgSlug},
	}
}

func normalize(j Job, raw map[string]any) Event {
	n := normalized{User: map[string]any{}}
	n.Errors = carriedErrors(raw["errors"])
	errs := &n.Errors
	received := j.CreatedAt.UTC().Truncate(time.Second)

	n.EventID = eventID(raw["event_id"], j.SetupID, errs)
	ts := timestamp(raw["timestamp"], received, errs)
	n.Timestamp = ts.Format(time.RFC3339)
	n.Type = boundedString(raw, "type", 64, errs)
	if n.Type == "" {
		n.Type = "default"
	}
	n.Level = level(raw["level"], errs)
	n.Platform = platform(raw["platform"], errs)
	n.Message = message(raw["message"], errs)
	n.Logger = logger(raw["logger"], errs)
	n.Release = release(raw["release"], errs)
	n.Environment = environment(raw["environment"], errs)
	n.User = user(raw["user"], j, errs)
	n.Contexts = object(raw, "contexts", errs)
	n.Extra = object(raw, "extra", errs)
	n.Tags = tags(raw["tags"], errs)
	n.Tags = finalTags(n, errs)

	data, _ := json.Marshal(n) // only JSON-decoded values: cannot fail
	contexts, _ := json.Marshal(nonNilMap(n.Contexts))
	errorsJSON, _ := json.Marshal(n.Errors)
	ev := Event{
		EventID: uuid.MustParse(n.EventID), OrganizationID: uint64(max(j.OrganizationID, 0)),
		SetupID: j.SetupID.String(), Timestamp: ts, Received: received, Type: n.Type, Platform: n.Platform,
		Level: n.Level, Logger: n.Logger, Message: n.Message, Release: n.Release, Environment: n.Environment,
		Contexts: string(contexts), Errors: string(errorsJSON), Data: string(data),
		RetentionDays: DefaultRetentionDays,
	}
	ev.UserID, _ = n.User["id"].(string)
	ev.UserEmail, _ = n.User["email"].(string)
	for _, t := range n.Tags {
		ev.TagKeys = append(ev.TagKeys, t[0])
		ev.TagValues = append(ev.TagValues, t[1])
	}
	return ev
}

func addError(errs *[]EventError, typ, name string, value any) {
	*errs = append(*errs, EventError{Type: typ, Name: name, Value: value})
}

// carriedErrors keeps the errors of an event normalized before, so that normalizing again changes nothing.
func carriedErrors(v any) []EventError {
	out := []EventError{}
	list, _ := v.([]any)
	for _, e := range list {
		m, _ := e.(map[string]any)
		typ, _ := m["type"].(string)
		name, _ := m["name"].(string)
		if typ != "" {
			out = append(out, EventError{Type: typ, Name: name, Value: m["value"]})
		}
	}
	return out
}

// eventID accepts the forms Relay's UUID parser does: 32 hex digits plain, or dashed 8-4-4-4-12, in braces
// or after urn:uuid:, in any case. uuid.Parse takes exactly these and checks where the dashes are.
func eventID(v any, setupID uuid.UUID, errs *[]EventError) string {
	if s, ok := v.(string); ok {
		if id, err := uuid.Parse(s); err == nil {
			return id.String()
		}
	}
	if v != nil {
		addError(errs, "invalid_data", "event_id", v)
	}
	return uuid.NewSHA1(eventIDNamespace, setupID[:]).String()
}

// timestampLayouts are the accepted textual forms: RFC 3339, and ISO 8601 without a zone, taken as UTC.
// Fractional seconds are optional in both.
var timestampLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05"}

// timestamp is the event's time, clamped to the window Sentry keeps: a time more than 60 s after the receive
// time or more than 30 days before it is replaced by the receive time, with an error. A number is Unix
// seconds, compared before it becomes a time so that any number (1700000000000 is a millisecond timestamp,
// far in the future) lands in the window or outside it, never in an overflow.
func timestamp(v any, received time.Time, errs *[]EventError) time.Time {
	var ts time.Time
	switch t := v.(type) {
	case nil:
		return received
	case string:
		var err error
		for _, layout := range timestampLayouts {
			if ts, err = time.Parse(layout, t); err == nil {
				break
			}
		}
		if err != nil {
			addError(errs, "invalid_data", "timestamp", v)
			return received
		}
	case float64:
		r := float64(received.Unix())
		switch {
		case math.IsNaN(t):
			addError(errs, "invalid_data", "timestamp", v)
			return received
		case t > r+maxFuture.Seconds():
			addError(errs, "future_timestamp", "timestamp", v)
			return received
		case t < r-maxPast.Seconds():
			addError(errs, "past_timestamp", "timestamp", v)
			return received
		}
		sec, frac := math.Modf(t)
		ts = time.Unix(int64(sec), int64(frac*1e9))
	default:
		addError(errs, "invalid_data", "timestamp", v)
		return received
	}
	switch {
	case ts.After(received.Add(maxFuture)):
		addError(errs, "future_timestamp", "timestamp", v)
		return received
	case ts.Before(received.Add(-maxPast)):
		addError(errs, "past_timestamp", "timestamp", v)
		return received
	}
	return ts.UTC().Truncate(time.Second)
}

func level(v any, errs *[]EventError) string {
	switch x := v.(type) {
	case nil:
		return "error"
	case string:
		if l, ok := levelAliases[strings.ToLower(strings.TrimSpace(x))]; ok {
			return l
		}
	case float64:
		if l, ok := pythonLevels[x]; ok {
			return l
		}
	}
	addError(errs, "invalid_data", "level", v)
	return "error"
}

func platform(v any, errs *[]EventError) string {
	if v == nil {
		return "other"
	}
	if s, ok := v.(string); ok && platforms[s] {
		return s
	}
	addError(errs, "invalid_data", "platform", v)
	return "other"
}

func message(v any, errs *[]EventError) string {
	if v == nil {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		addError(errs, "invalid_data", "message", v)
		return ""
	}
	s = strings.TrimSpace(strings.ToValidUTF8(s, "\uFFFD"))
	if utf8.RuneCountInString(s) > maxMessage {
		addError(errs, "value_too_long", "message", nil)
		s = strings.TrimSpace(string([]rune(s)[:maxMessage]))
	}
	return s
}

// logger is cut to 64 characters, as Relay trims it.
func logger(v any, errs *[]EventError) string {
	if v == nil {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		addError(errs, "invalid_data", "logger", v)
		return ""
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	if utf8.RuneCountInString(s) > maxLogger {
		addError(errs, "value_too_long", "logger", nil)
		s = string([]rune(s)[:maxLogger])
	}
	return s
}

// boundedString returns a string field at most max characters long; anything else is dropped.
func boundedString(raw map[string]any, name string, max int, errs *[]EventError) string {
	v, present := raw[name]
	if !present || v == nil {
		return ""
	}
	s, ok := v.(string)
	if !ok || !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		addError(errs, "invalid_data", name, v)
		return ""
	}
	return s
}

// release follows Sentry's Release.is_valid_version: trimmed first, then refused when empty, ".", "..",
// "latest" (any case), longer than 200 bytes, or holding a control character, "/" or "\".
func release(v any, errs *[]EventError) string {
	var s string
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		s = strings.TrimSpace(x)
	case float64:
		s = strconv.FormatFloat(x, 'f', -1, 64)
	}
	if s == "" || s == "." || s == ".." || strings.EqualFold(s, "latest") || len(s) > maxRelease ||
		!utf8.ValidString(s) || hasControl(s) || strings.ContainsAny(s, `/\`) {
		addError(errs, "invalid_data", "release", v)
		return ""
	}
	return s
}

// environment follows Relay's validate_environment: trimmed (blank means none, which is no error), then
// refused when longer than 64 characters, holding a control character or "/", or equal to ".", ".." or
// "none" (any case).
func environment(v any, errs *[]EventError) string {
	if v == nil {
		return ""
	}
	s, ok := v.(string)
	s = strings.TrimSpace(s)
	if ok && s == "" {
		return ""
	}
	if !ok || !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxEnvironment || hasControl(s) ||
		strings.Contains(s, "/") || s == "." || s == ".." || strings.EqualFold(s, "none") {
		addError(errs, "invalid_data", "environment", v)
		return ""
	}
	return s
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, unicode.IsControl)
}

// user keeps the event's user's id, email, username and a valid IP address; without a user, the event is
// the acting user's.
func user(v any, j Job, errs *[]EventError) map[string]any {
	m, ok := v.(map[string]any)
	if !ok {
		if v != nil {
			addError(errs, "invalid_data", "user", v)
		}
		u := map[string]any{"id": strconv.FormatInt(j.UserID, 10)}
		if j.UserEmail != "" {
			u["email"] = j.UserEmail
		}
		return u
	}
	out := map[string]any{}
	for _, k := range []string{"id", "email", "username", "ip_address"} {
		var s string
		switch x := m[k].(type) {
		case nil:
			continue
		case string:
			s = x
		case float64:
			s = strconv.FormatFloat(x, 'f', -1, 64)
		}
		valid := s != "" && utf8.RuneCountInString(s) <= maxUserField
		if k == "ip_address" && valid {
			addr, err := netip.ParseAddr(s)
			valid = err == nil && addr.Zone() == ""
		}
		switch {
		case valid:
			out[k] = s
		case s != "" || m[k] != "":
			addError(errs, "invalid_data", "user."+k, m[k])
		}
	}
	return out
}

// object returns contexts or extra, scrubbed, when it is an object of at most 16 KiB as JSON.
func object(raw map[string]any, name string, errs *[]EventError) map[string]any {
	v, present := raw[name]
	if !present || v == nil {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		addError(errs, "invalid_data", name, nil)
		return nil
	}
	scrub(m)
	if b, _ := json.Marshal(m); len(b) > maxObjectBytes {
		addError(errs, "invalid_data", name, nil)
		return nil
	}
	return m
}

func nonNilMap(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}
