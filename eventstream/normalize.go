package eventstream

import (
	"encoding/json"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Limits of SPEC §3.6.
const (
	maxMessage     = 8192
	maxLogger      = 64
	maxRelease     = 200
	maxEnvironment = 64
	maxTagKey      = 32
	maxTagValue    = 200
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
	platforms = map[string]bool{
		"as3": true, "c": true, "cfml": true, "cocoa": true, "csharp": true, "elixir": true, "go": true,
		"groovy": true, "haskell": true, "java": true, "javascript": true, "native": true, "node": true,
		"objc": true, "other": true, "perl": true, "php": true, "python": true, "ruby": true,
	}
	tagKeyPattern = regexp.MustCompile(`^[a-zA-Z0-9_.:-]+$`)
	hexDigits     = regexp.MustCompile(`^[0-9a-fA-F]{32}$`)
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
	n.Logger = boundedString(raw, "logger", maxLogger, errs)
	n.Release = validName(raw, "release", maxRelease, true, errs)
	n.Environment = validName(raw, "environment", maxEnvironment, false, errs)
	n.User = user(raw["user"], j, errs)
	n.Contexts = object(raw, "contexts", errs)
	n.Extra = object(raw, "extra", errs)
	n.Tags = tags(raw["tags"], errs)
	n.Tags = derivedTags(n)

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

func eventID(v any, setupID uuid.UUID, errs *[]EventError) string {
	if s, ok := v.(string); ok {
		if hex := strings.ReplaceAll(s, "-", ""); hexDigits.MatchString(hex) && (len(s) == 32 || len(s) == 36) {
			if id, err := uuid.Parse(strings.ToLower(hex)); err == nil {
				return id.String()
			}
		}
	}
	if v != nil {
		addError(errs, "invalid_data", "event_id", v)
	}
	return uuid.NewSHA1(eventIDNamespace, setupID[:]).String()
}

func timestamp(v any, received time.Time, errs *[]EventError) time.Time {
	var ts time.Time
	switch t := v.(type) {
	case nil:
		return received
	case string:
		p, err := time.Parse(time.RFC3339Nano, t)
		if err != nil {
			addError(errs, "invalid_data", "timestamp", v)
			return received
		}
		ts = p
	case float64:
		if math.IsNaN(t) || math.IsInf(t, 0) || t < 0 || t > 1e11 {
			addError(errs, "invalid_data", "timestamp", v)
			return received
		}
		ts = time.Unix(int64(t), 0)
	default:
		addError(errs, "invalid_data", "timestamp", v)
		return received
	}
	ts = ts.UTC().Truncate(time.Second)
	switch {
	case ts.After(received.Add(maxFuture)):
		addError(errs, "future_timestamp", "timestamp", v)
		return received
	case ts.Before(received.Add(-maxPast)):
		addError(errs, "past_timestamp", "timestamp", v)
		return received
	}
	return ts
}

func level(v any, errs *[]EventError) string {
	if v == nil {
		return "error"
	}
	s, _ := v.(string)
	if l, ok := levelAliases[strings.ToLower(strings.TrimSpace(s))]; ok {
		return l
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

// validName validates a release or an environment; an invalid one is dropped.
func validName(raw map[string]any, name string, max int, isRelease bool, errs *[]EventError) string {
	v, present := raw[name]
	if !present || v == nil {
		return ""
	}
	s, ok := v.(string)
	bad := !ok || !utf8.ValidString(s) || utf8.RuneCountInString(s) > max || strings.ContainsAny(s, "\n\t/")
	if ok && isRelease {
		bad = bad || strings.TrimSpace(s) == "" || s == "." || s == ".." || strings.EqualFold(s, "latest")
	}
	if bad {
		addError(errs, "invalid_data", name, v)
		return ""
	}
	return s
}

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
		switch x := m[k].(type) {
		case nil:
		case string:
			if x != "" && utf8.RuneCountInString(x) <= 128 {
				out[k] = x
			} else if x != "" {
				addError(errs, "invalid_data", "user."+k, x)
			}
		case float64:
			out[k] = strconv.FormatFloat(x, 'f', -1, 64)
		default:
			addError(errs, "invalid_data", "user."+k, x)
		}
	}
	return out
}

func object(raw map[string]any, name string, errs *[]EventError) map[string]any {
	v, present := raw[name]
	if !present || v == nil {
		return nil
	}
	m, ok := v.(map[string]any)
	if b, _ := json.Marshal(v); !ok || len(b) > maxObjectBytes {
		addError(errs, "invalid_data", name, nil)
		return nil
	}
	return m
}

// tags accepts an object or a list of [key, value] pairs and returns the valid pairs; the last value of a
// repeated key wins.
func tags(v any, errs *[]EventError) [][2]string {
	var pairs [][2]any
	switch t := v.(type) {
	case nil:
	case map[string]any:
		for k, val := range t {
			pairs = append(pairs, [2]any{k, val})
		}
		sort.Slice(pairs, func(a, b int) bool { return pairs[a][0].(string) < pairs[b][0].(string) })
	case []any:
		for _, p := range t {
			if kv, ok := p.([]any); ok && len(kv) == 2 {
				pairs = append(pairs, [2]any{kv[0], kv[1]})
			} else {
				addError(errs, "invalid_data", "tags", p)
			}
		}
	default:
		addError(errs, "invalid_data", "tags", v)
	}
	set := map[string]string{}
	for _, p := range pairs {
		k, kok := p[0].(string)
		val, vok := tagValue(p[1])
		if !kok || !vok || len(k) > maxTagKey || !tagKeyPattern.MatchString(k) {
			addError(errs, "invalid_data", "tags", []any{p[0], p[1]})
			continue
		}
		set[k] = val
	}
	return sortedTags(set)
}

func tagValue(v any) (string, bool) {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case float64:
		s = strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		s = strconv.FormatBool(x)
	default:
		return "", false
	}
	ok := s != "" && utf8.ValidString(s) && utf8.RuneCountInString(s) <= maxTagValue && !strings.ContainsAny(s, "\r\n")
	return s, ok
}

// derivedTags sets the tags the worker derives from the event's fields; a raw release tag is removed.
func derivedTags(n normalized) [][2]string {
	set := map[string]string{}
	for _, t := range n.Tags {
		set[t[0]] = t[1]
	}
	delete(set, "release")
	delete(set, "sentry:release")
	delete(set, "environment")
	delete(set, "sentry:user")
	set["level"] = n.Level
	if n.Environment != "" {
		set["environment"] = n.Environment
	}
	if n.Release != "" {
		set["sentry:release"] = n.Release
	}
	if id, _ := n.User["id"].(string); id != "" {
		set["sentry:user"] = "id:" + id
	} else if email, _ := n.User["email"].(string); email != "" {
		set["sentry:user"] = "email:" + email
	}
	return sortedTags(set)
}

func sortedTags(set map[string]string) [][2]string {
	out := make([][2]string, 0, len(set))
	for k, v := range set {
		out = append(out, [2]string{k, v})
	}
	sort.Slice(out, func(a, b int) bool { return out[a][0] < out[b][0] })
	return out
}

func nonNilMap(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}
