package redact

import (
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"postgres://app:s3cret@db:5432/app?sslmode=disable", "postgres://app:xxxxx@db:5432/app?sslmode=disable"},
		{"clickhouse://db:9000/events?username=app&password=s3cret", "clickhouse://db:9000/events?password=xxxxx&username=app"},
		{"redis://db:6379/0?token=s3cret&pwd=s3cret&dial_timeout=5s", "redis://db:6379/0?dial_timeout=5s&pwd=xxxxx&token=xxxxx"},
		{"smtp://mail:2525", "smtp://mail:2525"},
		{"postgres://app@db/app", "postgres://app@db/app"},
		{"postgres://app:s3cret@db:bad port/app", "postgres://…"},
		{"host=db password=s3cret?x", "host=db password=xxxxx"},
		{"host=db user=app password='s3 cret' sslmode=disable", "host=db user=app password=xxxxx sslmode=disable"},
	} {
		got := URL(tc.in)
		if got != tc.want {
			t.Errorf("URL(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if strings.Contains(got, "s3cret") {
			t.Errorf("URL(%q) leaks the secret: %q", tc.in, got)
		}
	}
}

func FuzzURL(f *testing.F) {
	f.Add("postgres://u:p@h:1/d?password=p")
	f.Add("redis://h?token=t")
	f.Fuzz(func(t *testing.T, raw string) {
		const secret = "zz9secretzz9"
		for _, u := range []string{"postgres://u:" + secret + "@h/d?" + raw, "redis://h/0?password=" + secret + "&" + raw} {
			if got := URL(u); strings.Contains(got, secret) {
				t.Fatalf("URL(%q) = %q leaks the password", u, got)
			}
		}
	})
}
