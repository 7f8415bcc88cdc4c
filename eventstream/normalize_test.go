package eventstream

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

var (
	testSetup   = uuid.MustParse("01a2230d-42b0-74ef-ad6c-a713ede7308d")
	testCreated = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
)

func testJob(raw string) Job {
	j := Job{SetupID: testSetup, OrganizationID: 42, OrgSlug: "acme", Flow: "setup", Provider: "okta", UserID: 7,
		UserEmail: "ada@acme.test", CreatedAt: testCreated}
	if raw != "" {
		j.Raw = []byte(raw)
	}
	return j
}

func errorNames(ev Event) []string {
	var errs []EventError
	_ = json.Unmarshal([]byte(ev.Errors), &errs)
	var out []string
	for _, e := range errs {
		out = append(out, e.Type+":"+e.Name)
	}
	return out
}

func tag(ev Event, key string) (string, bool) {
	for i, k := range ev.TagKeys {
		if k == key {
			return ev.TagValues[i], true
		}
	}
	return "", false
}

func TestSynthesizedEvent(t *testing.T) {
	ev := Build(testJob(""))
	if ev.Type != "sso.setup" || ev.Level != "info" || ev.Platform != "other" || ev.Message != "SSO enabled (okta)" {
		t.Errorf("event %+v", ev)
	}
	if !ev.Timestamp.Equal(testCreated) || ev.UserID != "7" || ev.UserEmail != "ada@acme.test" {
		t.Errorf("timestamp %v user %q %q", ev.Timestamp, ev.UserID, ev.UserEmail)
	}
	for k, want := range map[string]string{"provider": "okta", "flow": "setup", "organization": "acme", "level": "info", "sentry:user": "id:7"} {
		if got, _ := tag(ev, k); got != want {
			t.Errorf("tag %s = %q, want %q", k, got, want)
		}
	}
	link := testJob("")
	link.Flow = "link"
	if ev := Build(link); ev.Type != "sso.link" || ev.Message != "SSO identity linked (okta)" {
		t.Errorf("link event %s %q", ev.Type, ev.Message)
	}
	if again := Build(testJob("")); again.EventID != ev.EventID || again.Data != ev.Data {
		t.Error("building the same job twice gave different events")
	}
	if len(errorNames(ev)) != 0 {
		t.Errorf("synthesized event has errors %v", errorNames(ev))
	}
}

func TestNormalizeRules(t *testing.T) {
	derived := uuid.NewSHA1(eventIDNamespace, testSetup[:]).String()
	cases := []struct {
		name   string
		raw    string
		check  func(Event) string // returns a problem or ""
		errors []string
	}{
		{"event id dashed upper", `{"event_id": "6F9619FF-8B86-D011-B42D-00C04FC964FF"}`,
			func(e Event) string { return want(e.EventID.String(), "6f9619ff-8b86-d011-b42d-00c04fc964ff") }, nil},
		{"event id plain hex", `{"event_id": "6f9619ff8b86d011b42d00c04fc964ff"}`,
			func(e Event) string { return want(e.EventID.String(), "6f9619ff-8b86-d011-b42d-00c04fc964ff") }, nil},
		{"event id invalid", `{"event_id": "xyz"}`,
			func(e Event) string { return want(e.EventID.String(), derived) }, []string{"invalid_data:event_id"}},
		{"event id missing", `{}`, func(e Event) string { return want(e.EventID.String(), derived) }, nil},
		{"timestamp rfc3339", `{"timestamp": "2026-11-28T11:59:00Z"}`,
			func(e Event) string { return want(e.Timestamp.Format(time.RFC3339), "2026-11-28T11:59:00Z") }, nil},
		{"timestamp unix", `{"timestamp": 1795867140.5}`,
			func(e Event) string { return want(e.Timestamp.Unix(), int64(1795867140)) }, nil},
		{"timestamp future", `{"timestamp": "2026-11-28T12:05:00Z"}`,
			func(e Event) string { return want(e.Timestamp, testCreated) }, []string{"future_timestamp:timestamp"}},
		{"timestamp past", `{"timestamp": "2026-10-01T00:00:00Z"}`,
			func(e Event) string { return want(e.Timestamp, testCreated) }, []string{"past_timestamp:timestamp"}},
		{"timestamp garbage", `{"timestamp": "yesterday"}`,
			func(e Event) string { return want(e.Timestamp, testCreated) }, []string{"invalid_data:timestamp"}},
		{"level alias", `{"level": "CRITICAL"}`, func(e Event) string { return want(e.Level, "fatal") }, nil},
		{"level warn", `{"level": "warn"}`, func(e Event) string { return want(e.Level, "warning") }, nil},
		{"level log", `{"level": "log"}`, func(e Event) string { return want(e.Level, "info") }, nil},
		{"level missing", `{}`, func(e Event) string { return want(e.Level, "error") }, nil},
		{"level unknown", `{"level": "loud"}`, func(e Event) string { return want(e.Level, "error") }, []string{"invalid_data:level"}},
		{"platform known", `{"platform": "python"}`, func(e Event) string { return want(e.Platform, "python") }, nil},
		{"platform unknown", `{"platform": "cobol"}`, func(e Event) string { return want(e.Platform, "other") }, []string{"invalid_data:platform"}},
		{"message trimmed", `{"message": "  hi  "}`, func(e Event) string { return want(e.Message, "hi") }, nil},
		{"message too long", `{"message": "` + strings.Repeat("é", 9000) + `"}`,
			func(e Event) string { return want(len([]rune(e.Message)), 8192) }, []string{"value_too_long:message"}},
		{"logger too long", `{"logger": "` + strings.Repeat("l", 65) + `"}`, func(e Event) string { return want(e.Logger, "") }, []string{"invalid_data:logger"}},
		{"release ok", `{"release": "web@1.4.2"}`, func(e Event) string { return want(e.Release, "web@1.4.2") }, nil},
		{"release latest", `{"release": "latest"}`, func(e Event) string { return want(e.Release, "") }, []string{"invalid_data:release"}},
		{"release slash", `{"release": "a/b"}`, func(e Event) string { return want(e.Release, "") }, []string{"invalid_data:release"}},
		{"release dots", `{"release": ".."}`, func(e Event) string { return want(e.Release, "") }, []string{"invalid_data:release"}},
		{"release blank", `{"release": "  "}`, func(e Event) string { return want(e.Release, "") }, []string{"invalid_data:release"}},
		{"release long", `{"release": "` + strings.Repeat("r", 201) + `"}`, func(e Event) string { return want(e.Release, "") }, []string{"invalid_data:release"}},
		{"environment ok", `{"environment": "production"}`, func(e Event) string { return want(e.Environment, "production") }, nil},
		{"environment tab", `{"environment": "prod\tx"}`, func(e Event) string { return want(e.Environment, "") }, []string{"invalid_data:environment"}},
		{"environment long", `{"environment": "` + strings.Repeat("e", 65) + `"}`, func(e Event) string { return want(e.Environment, "") }, []string{"invalid_data:environment"}},
		{"tags object", `{"tags": {"region": "eu", "n": 3}}`, func(e Event) string {
			r, _ := tag(e, "region")
			n, _ := tag(e, "n")
			return want(r+n, "eu3")
		}, nil},
		{"tags pairs", `{"tags": [["region", "eu"], ["bad key!", "x"], ["k", "multi\nline"], ["only-one"]]}`, func(e Event) string {
			r, _ := tag(e, "region")
			_, bad := tag(e, "bad key!")
			return want(r+strings.Repeat("!", boolInt(bad)), "eu")
		}, []string{"invalid_data:tags", "invalid_data:tags", "invalid_data:tags"}},
		{"tag key too long", `{"tags": {"` + strings.Repeat("k", 33) + `": "v"}}`, func(e Event) string {
			return want(strings.Join(e.TagKeys, ","), "level,sentry:user")
		}, []string{"invalid_data:tags"}},
		{"derived tags", `{"release": "web@1", "environment": "prod", "level": "warning", "tags": {"release": "raw", "sentry:release": "raw"}}`, func(e Event) string {
			_, raw := tag(e, "release")
			rel, _ := tag(e, "sentry:release")
			env, _ := tag(e, "environment")
			lvl, _ := tag(e, "level")
			return want(strings.Join([]string{rel, env, lvl}, ",")+strings.Repeat("!", boolInt(raw)), "web@1,prod,warning")
		}, nil},
		{"user given", `{"user": {"email": "x@y.z", "ip_address": "203.0.113.5"}}`, func(e Event) string {
			u, _ := tag(e, "sentry:user")
			return want(e.UserID+"|"+e.UserEmail+"|"+u, "|x@y.z|email:x@y.z")
		}, nil},
		{"user missing", `{}`, func(e Event) string { return want(e.UserID+"|"+e.UserEmail, "7|ada@acme.test") }, nil},
		{"contexts ok", `{"contexts": {"os": {"name": "linux"}}}`, func(e Event) string { return want(e.Contexts, `{"os":{"name":"linux"}}`) }, nil},
		{"contexts too big", `{"contexts": {"big": "` + strings.Repeat("x", 17000) + `"}}`, func(e Event) string { return want(e.Contexts, `{}`) }, []string{"invalid_data:contexts"}},
		{"extra not object", `{"extra": "nope"}`, func(e Event) string { return "" }, []string{"invalid_data:extra"}},
	}
	for _, tc := range cases {
		ev := Build(testJob(tc.raw))
		if problem := tc.check(ev); problem != "" {
			t.Errorf("%s: %s", tc.name, problem)
		}
		if got := errorNames(ev); strings.Join(got, ",") != strings.Join(tc.errors, ",") {
			t.Errorf("%s: errors %v, want %v", tc.name, got, tc.errors)
		}
		assertValid(t, ev)
	}
}

func want[T comparable](got, want T) string {
	if got != want {
		return "got " + strings.TrimSpace(jsonString(got)) + ", want " + strings.TrimSpace(jsonString(want))
	}
	return ""
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// assertValid checks the invariants every normalized event must keep.
func assertValid(t *testing.T, ev Event) {
	t.Helper()
	if _, ok := levelAliases[ev.Level]; !ok || levelAliases[ev.Level] != ev.Level {
		t.Fatalf("level %q is not canonical", ev.Level)
	}
	if !platforms[ev.Platform] {
		t.Fatalf("platform %q", ev.Platform)
	}
	if len([]rune(ev.Message)) > maxMessage || len([]rune(ev.Logger)) > maxLogger || len([]rune(ev.Release)) > maxRelease {
		t.Fatal("a field exceeds its limit")
	}
	if strings.ContainsAny(ev.Release+ev.Environment, "\n\t/") {
		t.Fatalf("release %q or environment %q invalid", ev.Release, ev.Environment)
	}
	if len(ev.TagKeys) != len(ev.TagValues) {
		t.Fatal("tag keys and values differ in length")
	}
	for i, k := range ev.TagKeys {
		if !tagKeyPattern.MatchString(k) || len(k) > maxTagKey || strings.ContainsAny(ev.TagValues[i], "\r\n") {
			t.Fatalf("invalid tag %q=%q", k, ev.TagValues[i])
		}
	}
	if ev.Timestamp.After(ev.Received.Add(maxFuture)) || ev.Timestamp.Before(ev.Received.Add(-maxPast)) {
		t.Fatalf("timestamp %v outside the window of %v", ev.Timestamp, ev.Received)
	}
	if !json.Valid([]byte(ev.Data)) || !json.Valid([]byte(ev.Errors)) || !json.Valid([]byte(ev.Contexts)) {
		t.Fatal("a JSON column is not valid JSON")
	}
}

func FuzzNormalize(f *testing.F) {
	f.Add(`{"event_id": "6F9619FF-8B86-D011-B42D-00C04FC964FF", "level": "warn", "tags": [["a", "b"]]}`)
	f.Add(`{"timestamp": 1795867140, "release": "latest", "environment": "a/b", "user": {"id": 5}}`)
	f.Add(`{"tags": {"release": "x", "k": 1.5}, "contexts": {"a": {}}, "extra": [], "message": 3}`)
	f.Add(`{"errors": [{"type": "invalid_data", "name": "x", "value": 1}], "platform": "go"}`)
	f.Add(`not json`)
	f.Fuzz(func(t *testing.T, raw string) {
		ev := Build(testJob(raw))
		assertValid(t, ev)
		again := Build(testJob(ev.Data))
		if again.Data != ev.Data || again.EventID != ev.EventID || again.Errors != ev.Errors {
			t.Fatalf("normalizing again changed the event:\n%s\n%s", ev.Data, again.Data)
		}
	})
}
