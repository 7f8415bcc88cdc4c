package ssosetup

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestDecodeRequest(t *testing.T) {
	cases := []struct {
		name, body string
		field      string // "" means valid
	}{
		{"minimal setup", `{"organization_id": 1, "user_id": 7, "provider": {"key": "okta"}}`, ""},
		{"link by slug", `{"flow": "link", "organization_slug": "acme", "user_id": 7}`, ""},
		{"full", `{"flow": "setup", "organization_id": 42, "user_id": 7, "authenticated": true, "pipeline_user_id": 7,
			"provider": {"key": "okta", "config": {"domain": "acme.okta.com", "client_secret": "x"}},
			"identity": {"id": "00u1abc", "email": "ada@acme.test", "name": "Ada", "data": {"access_token": "y"}},
			"invite": {"member_id": 55, "token": "t"}, "ip_address": "203.0.113.5", "referrer": "in-app",
			"event": {"release": "web@1.4.2"}}`, ""},
		{"ipv6", `{"flow": "link", "organization_id": 1, "user_id": 7, "ip_address": "2001:db8::1"}`, ""},
		{"malformed", `{"organization_id": 1,`, "(body)"},
		{"empty", ``, "(body)"},
		{"array", `[]`, "(body)"},
		{"trailing data", `{"flow": "link", "organization_id": 1, "user_id": 7} {}`, "(body)"},
		{"wrong type", `{"organization_id": "1", "user_id": 7}`, "organization_id"},
		{"nested wrong type", `{"organization_id": 1, "user_id": 7, "provider": {"key": 5}}`, "provider.key"},
		{"unknown field", `{"organization_id": 1, "user_id": 7, "role": "owner"}`, "role"},
		{"bad flow", `{"flow": "login", "organization_id": 1, "user_id": 7}`, "flow"},
		{"no org", `{"flow": "link", "user_id": 7}`, "organization_id"},
		{"both org forms", `{"flow": "link", "organization_id": 1, "organization_slug": "a", "user_id": 7}`, "organization_slug"},
		{"negative org", `{"flow": "link", "organization_id": -1, "user_id": 7}`, "organization_id"},
		{"no user", `{"flow": "link", "organization_id": 1}`, "user_id"},
		{"setup without provider", `{"organization_id": 1, "user_id": 7}`, "provider.key"},
		{"bad ip", `{"flow": "link", "organization_id": 1, "user_id": 7, "ip_address": "300.1.1.1"}`, "ip_address"},
		{"event not object", `{"flow": "link", "organization_id": 1, "user_id": 7, "event": [1]}`, "event"},
		{"long referrer", `{"flow": "link", "organization_id": 1, "user_id": 7, "referrer": "` + strings.Repeat("r", 201) + `"}`, "referrer"},
		{"nul in slug", `{"flow": "link", "organization_slug": "a\u0000", "user_id": 7}`, "organization_slug"},
		{"nul in config", `{"organization_id": 1, "user_id": 7, "provider": {"key": "k", "config": {"a": ["\u0000"]}}}`, "provider.config"},
		{"nul in event", `{"flow": "link", "organization_id": 1, "user_id": 7, "event": {"m": "\u0000"}}`, "event"},
		{"negative invite", `{"flow": "link", "organization_id": 1, "user_id": 7, "invite": {"member_id": -2}}`, "invite.member_id"},
	}
	for _, tc := range cases {
		req, err := DecodeRequest([]byte(tc.body))
		if tc.field == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			if req.Flow == "" {
				t.Errorf("%s: flow default not applied", tc.name)
			}
			continue
		}
		var fe FieldErrors
		if !errors.As(err, &fe) || fe[tc.field] == "" {
			t.Errorf("%s: error %v, want a problem with %q", tc.name, err, tc.field)
		}
	}
}

func FuzzDecodeRequest(f *testing.F) {
	f.Add(`{"organization_id": 1, "user_id": 7, "provider": {"key": "okta"}}`)
	f.Add(`{"flow": "link", "organization_slug": "acme", "user_id": 7, "event": {"a": 1}}`)
	f.Add(`{"organization_id": "x"}`)
	f.Add(`{"identity": {"data": {"k": [1, 2, {"z": null}]}}}`)
	f.Fuzz(func(t *testing.T, body string) {
		req, err := DecodeRequest([]byte(body))
		if err != nil {
			var fe FieldErrors
			if !errors.As(err, &fe) || len(fe) == 0 {
				t.Fatalf("rejection without field errors: %v", err)
			}
			for k, v := range fe {
				if v == "" {
					t.Fatalf("field %q rejected without a message", k)
				}
			}
			return
		}
		// An accepted request is valid and stays valid when normalized again.
		if req.UserID <= 0 || (req.OrganizationID <= 0 && req.OrganizationSlug == "") {
			t.Fatalf("accepted an invalid request: %+v", req)
		}
		if err := req.Normalize(); err != nil {
			t.Fatalf("normalized request no longer valid: %v", err)
		}
	})
}

func TestDecodeRefusesBadEncoding(t *testing.T) {
	valid := `{"organization_id": 1, "user_id": 1, "provider": {"key": "k"}, "event": {"message": "%s"}}`
	for _, tc := range []struct {
		name, text string
		ok         bool
	}{
		{"plain", "hello", true},
		{"escaped pair", `\ud83d\ude00`, true},
		{"escaped backslash before u", `\\ud800`, true},
		{"lone high surrogate", `\ud800`, false},
		{"lone high surrogate at the end", `x\uD800`, false},
		{"high surrogate then a letter", `\ud800\u0041`, false},
		{"lone low surrogate", `\udc00`, false},
		{"reversed pair", `\ude00\ud83d`, false},
		{"invalid UTF-8 byte", "\xff", false},
		{"truncated UTF-8", "\xe2\x82", false},
	} {
		_, err := DecodeRequest([]byte(fmt.Sprintf(valid, tc.text)))
		var fe FieldErrors
		switch {
		case tc.ok && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case !tc.ok && (!errors.As(err, &fe) || fe["(body)"] == ""):
			t.Errorf("%s: error %v, want a (body) field error", tc.name, err)
		}
	}
}
