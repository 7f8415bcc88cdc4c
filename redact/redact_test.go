package redact

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestMap(t *testing.T) {
	cases := []struct{ in, want string }{
		{`{"domain":"acme.okta.com","client_secret":"s3"}`, `{"client_secret":"[redacted]","domain":"acme.okta.com"}`},
		{`{"Password":"p","PRIVATE_KEY":"k","access_token":"t","apiKey":"x","keyring":1}`,
			`{"PRIVATE_KEY":"[redacted]","Password":"[redacted]","access_token":"[redacted]","apiKey":"[redacted]","keyring":"[redacted]"}`},
		{`{"nested":{"list":[{"token":"t","ok":1}],"deep":{"secret":{"a":1}}}}`,
			`{"nested":{"deep":{"secret":"[redacted]"},"list":[{"ok":1,"token":"[redacted]"}]}}`},
		{`{"db_passwd":"p","ssh_passphrase":"p","aws_credentials":{"a":1},"Authorization":"Bearer t","set_cookie":"c","user":"u"}`,
			`{"Authorization":"[redacted]","aws_credentials":"[redacted]","db_passwd":"[redacted]","set_cookie":"[redacted]","ssh_passphrase":"[redacted]","user":"u"}`},
		{`{"name":"Ada","email":"ada@acme.test"}`, `{"email":"ada@acme.test","name":"Ada"}`},
		{`{}`, `{}`},
	}
	for _, tc := range cases {
		var in map[string]any
		if err := json.Unmarshal([]byte(tc.in), &in); err != nil {
			t.Fatal(err)
		}
		orig, _ := json.Marshal(in)
		got, _ := json.Marshal(Map(in))
		if string(got) != tc.want {
			t.Errorf("Map(%s) = %s, want %s", tc.in, got, tc.want)
		}
		if after, _ := json.Marshal(in); string(after) != string(orig) {
			t.Errorf("Map modified its input: %s", after)
		}
	}
	if Map(nil) != nil {
		t.Error("Map(nil) is not nil")
	}
}

func FuzzValue(f *testing.F) {
	f.Add(`{"client_secret":"x","a":[{"token":"y"}]}`)
	f.Add(`[1,"two",{"password":null}]`)
	f.Add(`"plain"`)
	f.Fuzz(func(t *testing.T, doc string) {
		var v any
		if json.Unmarshal([]byte(doc), &v) != nil {
			return
		}
		out := Value(v)
		again := Value(out)
		if !reflect.DeepEqual(out, again) {
			t.Fatalf("not idempotent: %v vs %v", out, again)
		}
		assertNoSecrets(t, out)
	})
}

func assertNoSecrets(t *testing.T, v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if IsSecretKey(k) && e != Placeholder {
				t.Fatalf("key %q kept value %v", k, e)
			}
			assertNoSecrets(t, e)
		}
	case []any:
		for _, e := range x {
			assertNoSecrets(t, e)
		}
	}
}
