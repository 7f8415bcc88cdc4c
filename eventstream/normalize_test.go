package eventstream

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

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

// normCase is one rule's case: the raw event, a check of the result, and the errors it must record.
type normCase struct {
	name   string
	raw    string
	check  func(Event) string // returns a problem or ""
	errors []string
}

func runNormCases(t *testing.T, cases []normCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev := Build(testJob(tc.raw))
			if problem := tc.check(ev); problem != "" {
				t.Error(problem)
			}
			if got := errorNames(ev); strings.Join(got, ",") != strings.Join(tc.errors, ",") {
				t.Errorf("errors %v, want %v", got, tc.errors)
			}
			assertValid(t, ev)
			if again := Build(testJob(ev.Data)); again.Data != ev.Data {
				t.Errorf("normalizing again changed the event:\n%s\n%s", ev.Data, again.Data)
			}
		})
	}
}

func TestNormalizeEventID(t *testing.T) {
	derived := uuid.NewSHA1(eventIDNamespace, testSetup[:]).String()
	const canonical = "6f9619ff-8b86-d011-b42d-00c04fc964ff"
	id := func(e Event) string { return want(e.EventID.String(), canonical) }
	fallback := func(e Event) string { return want(e.EventID.String(), derived) }
	runNormCases(t, []normCase{
		{"dashed upper", `{"event_id": "6F9619FF-8B86-D011-B42D-00C04FC964FF"}`, id, nil},
		{"plain hex", `{"event_id": "6f9619ff8b86d011b42d00c04fc964ff"}`, id, nil},
		{"braces", `{"event_id": "{6f9619ff-8b86-d011-b42d-00c04fc964ff}"}`, id, nil},
		{"urn", `{"event_id": "urn:uuid:6F9619FF-8B86-D011-B42D-00C04FC964FF"}`, id, nil},
		{"dashes misplaced", `{"event_id": "6f9619ff8-b86-d011-b42d-00c04fc964ff"}`, fallback, []string{"invalid_data:event_id"}},
		{"dashes in plain hex", `{"event_id": "6f9619ff8b86d011b42d00c04fc964ff----"}`, fallback, []string{"invalid_data:event_id"}},
		{"braces unclosed", `{"event_id": "{6f9619ff-8b86-d011-b42d-00c04fc964ff"}`, fallback, []string{"invalid_data:event_id"}},
		{"31 digits", `{"event_id": "6f9619ff8b86d011b42d00c04fc964f"}`, fallback, []string{"invalid_data:event_id"}},
		{"not hex", `{"event_id": "xyz"}`, fallback, []string{"invalid_data:event_id"}},
		{"number", `{"event_id": 42}`, fallback, []string{"invalid_data:event_id"}},
		{"missing", `{}`, fallback, nil},
	})
}

func TestNormalizeTimestamp(t *testing.T) {
	at := func(s string) func(Event) string {
		return func(e Event) string { return want(e.Timestamp.Format(time.RFC3339), s) }
	}
	received := at("2026-11-28T12:00:00Z")
	now := float64(testCreated.Unix())
	num := func(f float64) string { return `{"timestamp": ` + strconv.FormatFloat(f, 'f', -1, 64) + `}` }
	runNormCases(t, []normCase{
		{"rfc3339", `{"timestamp": "2026-11-28T11:59:00Z"}`, at("2026-11-28T11:59:00Z"), nil},
		{"rfc3339 offset", `{"timestamp": "2026-11-28T12:59:00+01:00"}`, at("2026-11-28T11:59:00Z"), nil},
		{"iso without zone is utc", `{"timestamp": "2026-11-28T11:59:00"}`, at("2026-11-28T11:59:00Z"), nil},
		{"iso without zone, fraction", `{"timestamp": "2026-11-28T11:59:00.250"}`, at("2026-11-28T11:59:00Z"), nil},
		{"unix seconds", `{"timestamp": 1795867140.5}`, at("2026-11-28T11:59:00Z"), nil},
		{"60 s ahead is kept", `{"timestamp": "2026-11-28T12:01:00Z"}`, at("2026-11-28T12:01:00Z"), nil},
		{"60.5 s ahead is future", `{"timestamp": "2026-11-28T12:01:00.5Z"}`, received, []string{"future_timestamp:timestamp"}},
		{"61 s ahead is future", `{"timestamp": "2026-11-28T12:01:01Z"}`, received, []string{"future_timestamp:timestamp"}},
		{"number 60 s ahead is kept", num(now + 60), at("2026-11-28T12:01:00Z"), nil},
		{"number 60.5 s ahead is future", num(now + 60.5), received, []string{"future_timestamp:timestamp"}},
		{"milliseconds are future", `{"timestamp": 1700000000000}`, received, []string{"future_timestamp:timestamp"}},
		{"huge number is future", `{"timestamp": 1e300}`, received, []string{"future_timestamp:timestamp"}},
		{"30 days back is kept", `{"timestamp": "2026-10-29T12:00:00Z"}`, at("2026-10-29T12:00:00Z"), nil},
		{"30 days and 1 s back is past", `{"timestamp": "2026-10-29T11:59:59Z"}`, received, []string{"past_timestamp:timestamp"}},
		{"number 30 days back is kept", num(now - 30*86400), at("2026-10-29T12:00:00Z"), nil},
		{"number 30 days and 1 s back is past", num(now - 30*86400 - 1), received, []string{"past_timestamp:timestamp"}},
		{"negative number is past", `{"timestamp": -1}`, received, []string{"past_timestamp:timestamp"}},
		{"garbage", `{"timestamp": "yesterday"}`, received, []string{"invalid_data:timestamp"}},
		{"date only", `{"timestamp": "2026-11-28"}`, received, []string{"invalid_data:timestamp"}},
		{"bool", `{"timestamp": true}`, received, []string{"invalid_data:timestamp"}},
		{"missing", `{}`, received, nil},
	})
}

func TestNormalizeLevelPlatformMessage(t *testing.T) {
	lvl := func(l string) func(Event) string { return func(e Event) string { return want(e.Level, l) } }
	runNormCases(t, []normCase{
		{"level critical", `{"level": "CRITICAL"}`, lvl("fatal"), nil},
		{"level warn", `{"level": "warn"}`, lvl("warning"), nil},
		{"level log", `{"level": "log"}`, lvl("info"), nil},
		{"level python 10", `{"level": 10}`, lvl("debug"), nil},
		{"level python 20", `{"level": 20}`, lvl("info"), nil},
		{"level python 30", `{"level": 30}`, lvl("warning"), nil},
		{"level python 40", `{"level": 40}`, lvl("error"), nil},
		{"level python 50", `{"level": 50}`, lvl("fatal"), nil},
		{"level python 25", `{"level": 25}`, lvl("error"), []string{"invalid_data:level"}},
		{"level missing", `{}`, lvl("error"), nil},
		{"level unknown", `{"level": "loud"}`, lvl("error"), []string{"invalid_data:level"}},
		{"platform known", `{"platform": "python"}`, func(e Event) string { return want(e.Platform, "python") }, nil},
		{"platform unknown", `{"platform": "cobol"}`, func(e Event) string { return want(e.Platform, "other") }, []string{"invalid_data:platform"}},
		{"message trimmed", `{"message": "  hi  "}`, func(e Event) string { return want(e.Message, "hi") }, nil},
		{"message 8192", `{"message": "` + strings.Repeat("é", 8192) + `"}`,
			func(e Event) string { return want(len([]rune(e.Message)), 8192) }, nil},
		{"message too long", `{"message": "` + strings.Repeat("é", 9000) + `"}`,
			func(e Event) string { return want(len([]rune(e.Message)), 8192) }, []string{"value_too_long:message"}},
		{"logger 64", `{"logger": "` + strings.Repeat("é", 64) + `"}`, func(e Event) string {
			lg, _ := tag(e, "logger")
			return want(e.Logger+"|"+lg, strings.Repeat("é", 64)+"|"+strings.Repeat("é", 64))
		}, nil},
		{"logger 65 is cut", `{"logger": "` + strings.Repeat("é", 65) + `"}`,
			func(e Event) string { return want(e.Logger, strings.Repeat("é", 64)) }, []string{"value_too_long:logger"}},
		{"logger not a string", `{"logger": 5}`, func(e Event) string { return want(e.Logger, "") }, []string{"invalid_data:logger"}},
	})
}

func TestNormalizeRelease(t *testing.T) {
	rel := func(r string) func(Event) string { return func(e Event) string { return want(e.Release, r) } }
	dropped := []string{"invalid_data:release"}
	runNormCases(t, []normCase{
		{"ok", `{"release": "web@1.4.2"}`, rel("web@1.4.2"), nil},
		{"trimmed", `{"release": "  web@1.4.2 "}`, rel("web@1.4.2"), nil},
		{"number", `{"release": 12}`, rel("12"), nil},
		{"float", `{"release": 1.5}`, rel("1.5"), nil},
		{"200 bytes", `{"release": "` + strings.Repeat("é", 100) + `"}`, rel(strings.Repeat("é", 100)), nil},
		{"201 bytes", `{"release": "` + strings.Repeat("é", 100) + `r"}`, rel(""), dropped},
		{"201 ascii", `{"release": "` + strings.Repeat("r", 201) + `"}`, rel(""), dropped},
		{"latest", `{"release": "latest"}`, rel(""), dropped},
		{"latest padded", `{"release": " latest "}`, rel(""), dropped},
		{"LATEST", `{"release": "LATEST"}`, rel(""), dropped},
		{"dot", `{"release": "."}`, rel(""), dropped},
		{"dots", `{"release": ".."}`, rel(""), dropped},
		{"blank", `{"release": "  "}`, rel(""), dropped},
		{"empty", `{"release": ""}`, rel(""), dropped},
		{"slash", `{"release": "a/b"}`, rel(""), dropped},
		{"backslash", `{"release": "a\\b"}`, rel(""), dropped},
		{"newline", `{"release": "a\nb"}`, rel(""), dropped},
		{"carriage return", `{"release": "a\rb"}`, rel(""), dropped},
		{"form feed", `{"release": "a\fb"}`, rel(""), dropped},
		{"tab", `{"release": "a\tb"}`, rel(""), dropped},
		{"nul", `{"release": "a\u0000b"}`, rel(""), dropped},
		{"bool", `{"release": true}`, rel(""), dropped},
	})
}

func TestNormalizeEnvironment(t *testing.T) {
	env := func(r string) func(Event) string { return func(e Event) string { return want(e.Environment, r) } }
	dropped := []string{"invalid_data:environment"}
	runNormCases(t, []normCase{
		{"ok", `{"environment": "production"}`, env("production"), nil},
		{"trimmed", `{"environment": " prod "}`, env("prod"), nil},
		{"blank is none", `{"environment": "   "}`, env(""), nil},
		{"64 characters", `{"environment": "` + strings.Repeat("é", 64) + `"}`, env(strings.Repeat("é", 64)), nil},
		{"65 characters", `{"environment": "` + strings.Repeat("é", 65) + `"}`, env(""), dropped},
		{"none", `{"environment": "none"}`, env(""), dropped},
		{"None", `{"environment": "None"}`, env(""), dropped},
		{"dot", `{"environment": "."}`, env(""), dropped},
		{"dots", `{"environment": ".."}`, env(""), dropped},
		{"slash", `{"environment": "a/b"}`, env(""), dropped},
		{"tab", `{"environment": "prod\tx"}`, env(""), dropped},
		{"carriage return", `{"environment": "prod\rx"}`, env(""), dropped},
		{"form feed", `{"environment": "prod\fx"}`, env(""), dropped},
		{"number", `{"environment": 3}`, env(""), dropped},
	})
}

func TestNormalizeTags(t *testing.T) {
	keys := func(want_ string) func(Event) string {
		return func(e Event) string {
			var kv []string
			for i, k := range e.TagKeys {
				kv = append(kv, k+"="+e.TagValues[i])
			}
			return want(strings.Join(kv, ","), want_)
		}
	}
	const base = "level=error,sentry:user=id:7"
	runNormCases(t, []normCase{
		{"object", `{"tags": {"region": "eu", "n": 3, "b": true}}`, keys("b=true,level=error,n=3,region=eu,sentry:user=id:7"), nil},
		{"pairs", `{"tags": [["region", "eu"], ["bad key!", "x"], ["k", "multi\nline"], ["only-one"]]}`,
			keys("level=error,region=eu,sentry:user=id:7"), []string{"invalid_data:tags", "invalid_data:tags", "invalid_data:tags"}},
		{"key 32", `{"tags": {"` + strings.Repeat("k", 32) + `": "v"}}`, keys(strings.Repeat("k", 32) + "=v," + base), nil},
		{"key 33", `{"tags": {"` + strings.Repeat("k", 33) + `": "v"}}`, keys(base), []string{"invalid_data:tags"}},
		{"value 200", `{"tags": {"k": "` + strings.Repeat("é", 200) + `"}}`, keys("k=" + strings.Repeat("é", 200) + "," + base), nil},
		{"value 201", `{"tags": {"k": "` + strings.Repeat("é", 201) + `"}}`, keys(base), []string{"invalid_data:tags"}},
		{"value with tab", `{"tags": {"k": "a\tb"}}`, keys(base), []string{"invalid_data:tags"}},
		{"value empty", `{"tags": {"k": ""}}`, keys(base), []string{"invalid_data:tags"}},
		{"not a list", `{"tags": "x"}`, keys(base), []string{"invalid_data:tags"}},
		{"reserved removed", `{"tags": {"release": "r", "dist": "d", "user": "u", "filename": "f", "function": "g"}}`,
			keys(base), []string{"invalid_data:tags", "invalid_data:tags", "invalid_data:tags", "invalid_data:tags", "invalid_data:tags"}},
		{"derived overwritten", `{"release": "web@1", "environment": "prod", "level": "warning", "logger": "auth",
			"tags": {"sentry:release": "raw", "level": "fatal", "logger": "x", "sentry:user": "id:9", "environment": "raw"}}`,
			keys("environment=prod,level=warning,logger=auth,sentry:release=web@1,sentry:user=id:7"),
			[]string{"invalid_data:tags", "invalid_data:tags", "invalid_data:tags", "invalid_data:tags", "invalid_data:tags"}},
		{"derived without a field", `{"tags": {"sentry:release": "raw", "logger": "x"}}`, keys(base),
			[]string{"invalid_data:tags", "invalid_data:tags"}},
		{"derived to the same value", `{"level": "info", "tags": {"level": "info"}}`, keys("level=info,sentry:user=id:7"), nil},
		{"environment tag kept without environment", `{"tags": {"environment": "staging"}}`, keys("environment=staging," + base), nil},
		{"sentry:user from username", `{"user": {"username": "ada", "email": "ada@acme.test"}}`,
			keys("level=error,sentry:user=username:ada"), nil},
		{"sentry:user from email", `{"user": {"email": "ada@acme.test", "ip_address": "203.0.113.5"}}`,
			keys("level=error,sentry:user=email:ada@acme.test"), nil},
		{"sentry:user from ip", `{"user": {"ip_address": "203.0.113.5"}}`, keys("level=error,sentry:user=ip:203.0.113.5"), nil},
		{"no sentry:user", `{"user": {}}`, keys("level=error"), nil},
		{"sentry:user not a tag value", `{"user": {"id": "a\nb"}}`, keys("level=error"), nil},
	})
}

func TestNormalizeUser(t *testing.T) {
	u := func(s string) func(Event) string {
		return func(e Event) string {
			var n normalized
			_ = json.Unmarshal([]byte(e.Data), &n)
			return want(jsonString(n.User), s)
		}
	}
	runNormCases(t, []normCase{
		{"missing is the acting user", `{}`, u(`{"email":"ada@acme.test","id":"7"}`), nil},
		{"given", `{"user": {"id": 5, "email": "x@y.z", "username": "x", "ip_address": "203.0.113.5"}}`,
			u(`{"email":"x@y.z","id":"5","ip_address":"203.0.113.5","username":"x"}`), nil},
		{"ipv6", `{"user": {"ip_address": "2001:db8::1"}}`, u(`{"ip_address":"2001:db8::1"}`), nil},
		{"ipv4-mapped ipv6", `{"user": {"ip_address": "::ffff:203.0.113.5"}}`, u(`{"ip_address":"::ffff:203.0.113.5"}`), nil},
		{"invalid ip", `{"user": {"id": "1", "ip_address": "999.1.1.1"}}`, u(`{"id":"1"}`), []string{"invalid_data:user.ip_address"}},
		{"ip with zone", `{"user": {"ip_address": "fe80::1%eth0"}}`, u(`{}`), []string{"invalid_data:user.ip_address"}},
		{"ip as host name", `{"user": {"ip_address": "localhost"}}`, u(`{}`), []string{"invalid_data:user.ip_address"}},
		{"field too long", `{"user": {"username": "` + strings.Repeat("u", 129) + `"}}`, u(`{}`), []string{"invalid_data:user.username"}},
		{"field not a string", `{"user": {"email": ["a"]}}`, u(`{}`), []string{"invalid_data:user.email"}},
		{"not an object", `{"user": "ada"}`, u(`{"email":"ada@acme.test","id":"7"}`), []string{"invalid_data:user"}},
	})
}

func TestNormalizeContextsAndExtra(t *testing.T) {
	runNormCases(t, []normCase{
		{"contexts ok", `{"contexts": {"os": {"name": "linux"}}}`, func(e Event) string { return want(e.Contexts, `{"os":{"name":"linux"}}`) }, nil},
		{"contexts too big", `{"contexts": {"big": "` + strings.Repeat("x", 17000) + `"}}`, func(e Event) string { return want(e.Contexts, `{}`) }, []string{"invalid_data:contexts"}},
		{"extra not object", `{"extra": "nope"}`, func(e Event) string { return "" }, []string{"invalid_data:extra"}},
		{"extra scrubbed at any depth", `{"extra": {"Password": "hunter2", "db": {"mysql_pwd": "x", "list": [{"api_key": 5}]},
			"user_token": {"nested": "x"}, "sessionid": "s", "author": "ada", "plain": "kept", "apikey": null}}`,
			func(e Event) string {
				var n normalized
				_ = json.Unmarshal([]byte(e.Data), &n)
				return want(jsonString(n.Extra), `{"Password":"[Filtered]","apikey":null,"author":"[Filtered]",`+
					`"db":{"list":[{"api_key":"[Filtered]"}],"mysql_pwd":"[Filtered]"},"plain":"kept","sessionid":"[Filtered]","user_token":"[Filtered]"}`)
			}, nil},
		{"contexts scrubbed", `{"contexts": {"app": {"SECRET": "s", "Credentials": "c", "privateKey": "k", "private_key": "k", "passwd": "p", "auth_header": "a", "name": "web"}}}`,
			func(e Event) string {
				return want(e.Contexts, `{"app":{"Credentials":"[Filtered]","SECRET":"[Filtered]","auth_header":"[Filtered]","name":"web",`+
					`"passwd":"[Filtered]","privateKey":"[Filtered]","private_key":"[Filtered]"}}`)
			}, nil},
	})
	ev := Build(testJob(`{"extra": {"password": "hunter2"}, "contexts": {"c": {"token": "tok-123"}}}`))
	for _, column := range []string{ev.Data, ev.Contexts, ev.Errors} {
		if strings.Contains(column, "hunter2") || strings.Contains(column, "tok-123") {
			t.Errorf("a secret reached a column: %s", column)
		}
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
	if strings.ContainsFunc(ev.Release+ev.Environment, unicode.IsControl) || strings.ContainsAny(ev.Release+ev.Environment, `/\`) ||
		len(ev.Release) > maxRelease || ev.Release != strings.TrimSpace(ev.Release) || ev.Environment != strings.TrimSpace(ev.Environment) {
		t.Fatalf("release %q or environment %q invalid", ev.Release, ev.Environment)
	}
	if len(ev.TagKeys) != len(ev.TagValues) {
		t.Fatal("tag keys and values differ in length")
	}
	for i, k := range ev.TagKeys {
		if !tagKeyPattern.MatchString(k) || len(k) > maxTagKey || hasControl(ev.TagValues[i]) || reservedTags[k] {
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
	f.Add(`{"timestamp": 1700000000000, "level": 30, "logger": "lllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllll"}`)
	f.Add(`{"event_id": "urn:uuid:6F9619FF-8B86-D011-B42D-00C04FC964FF", "release": " latest ", "environment": " None "}`)
	f.Add(`{"tags": {"level": "x", "sentry:user": "id:1", "dist": "2"}, "user": {"ip_address": "::1", "username": "u"}}`)
	f.Add(`{"extra": {"a": [{"Token": {"x": 1}}], "password": null}, "contexts": {"c": {"session": "s"}}}`)
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
