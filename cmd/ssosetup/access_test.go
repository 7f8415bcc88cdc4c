package main

import (
	"io"
	"log/slog"
	"strings"
	"testing"
)

func TestWeakSecret(t *testing.T) {
	for _, tc := range []struct {
		secret string
		weak   bool
	}{
		{"", true},
		{"short-but-ok", true}, // 12 < 16
		{"change-me", true},
		{"change-me-change-me", true},
		{"CHANGEME_changeme_123", true},
		{"secretsecretsecret", true},
		{"password1234567890", true},
		{"admin-token-secret-2026", true},
		{"aaaaaaaaaaaaaaaaaaaa", true},
		{"abababababababababab", true},
		{"6f1c0a9e2b7d4c3a8e5f1b2c3d4e5f60", false}, // openssl rand -hex 16
		{"Zq3vT9xLw2pKs8mN", false},
		{"8234987234987234", false},
		{"correct-horse-battery-staple", false},
	} {
		why := weakSecret(tc.secret, minTokenLength)
		if (why != "") != tc.weak {
			t.Errorf("weakSecret(%q) = %q, want weak=%v", tc.secret, why, tc.weak)
		}
	}
}

// serve and run refuse weak credentials with one line naming the variable, and --insecure-dev binds loopback.
func TestCheckAccess(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	strong := "6f1c0a9e2b7d4c3a8e5f1b2c3d4e5f60"
	for _, tc := range []struct {
		name     string
		cfg      config
		insecure bool
		wantErr  string // "" for none
		listen   string
	}{
		{"strong token", config{APIToken: strong, Listen: ":8080"}, false, "", ":8080"},
		{"short token", config{APIToken: "abc123", Listen: ":8080"}, false, "SSOSETUP_API_TOKEN is shorter than 16", ""},
		{"placeholder token", config{APIToken: "change-me-change-me", Listen: ":8080"}, false, "SSOSETUP_API_TOKEN is a placeholder", ""},
		{"weak token even with --insecure-dev", config{APIToken: "token", Listen: ":8080"}, true, "SSOSETUP_API_TOKEN", ""},
		{"weak dashboard password", config{APIToken: strong, DashboardUser: "ops", DashboardPassword: "secret", Listen: ":8080"}, false,
			"SSOSETUP_DASHBOARD_PASSWORD is shorter than 12", ""},
		{"placeholder dashboard password", config{APIToken: strong, DashboardUser: "ops", DashboardPassword: "changeme-password", Listen: ":8080"}, false,
			"SSOSETUP_DASHBOARD_PASSWORD is a placeholder", ""},
		{"no token", config{Listen: ":8080"}, false, "SSOSETUP_API_TOKEN is not set", ""},
		{"insecure dev on every interface", config{Listen: ":8080"}, true, "", "127.0.0.1:8080"},
		{"insecure dev on 0.0.0.0", config{Listen: "0.0.0.0:9000"}, true, "", "127.0.0.1:9000"},
		{"insecure dev on loopback", config{Listen: "[::1]:8080"}, true, "", "[::1]:8080"},
		{"insecure dev on a public address", config{Listen: "192.0.2.10:8080"}, true, "not a loopback address", ""},
	} {
		got, err := checkAccess(tc.cfg, serveFlags{insecureDev: tc.insecure}, log)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "\n")):
			t.Errorf("%s: error %v, want one line containing %q", tc.name, err, tc.wantErr)
		case err == nil && got.Listen != tc.listen:
			t.Errorf("%s: listens on %q, want %q", tc.name, got.Listen, tc.listen)
		}
		if err != nil && (strings.Contains(err.Error(), tc.cfg.APIToken) && tc.cfg.APIToken != "" ||
			tc.cfg.DashboardPassword != "" && strings.Contains(err.Error(), tc.cfg.DashboardPassword)) {
			t.Errorf("%s: the error shows the secret: %v", tc.name, err)
		}
	}
}

func TestDebugListenMustBeLoopback(t *testing.T) {
	for addr, ok := range map[string]bool{"127.0.0.1:6060": true, "localhost:6060": true, "[::1]:6060": true,
		":6060": false, "0.0.0.0:6060": false, "192.0.2.1:6060": false, "nonsense": false} {
		t.Setenv("SSOSETUP_DEBUG_LISTEN", addr)
		_, err := loadConfig()
		if (err == nil) != ok || err != nil && !strings.Contains(err.Error(), "SSOSETUP_DEBUG_LISTEN") {
			t.Errorf("SSOSETUP_DEBUG_LISTEN=%s: %v", addr, err)
		}
	}
}
