package worker

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ssosetup/ssosetup/storage/postgres"
)

// A redirect is not a delivery (SPEC §11: anything but 2xx is tried again), and an attempt's error never
// repeats a secret of the receiver's URL.
func TestWebhookAttemptOutcomes(t *testing.T) {
	t.Parallel()
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	defer target.Close()
	redirect := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusFound))
	defer redirect.Close()
	s := &webhookSender{key: []byte("0123456789abcdef0123456789abcdef"), client: newWebhookClient(), retryMax: time.Minute}
	due := func(url string) postgres.DueWebhook {
		return postgres.DueWebhook{ID: uuid.New(), URL: url, Payload: []byte(`{}`), Attempts: 1, CreatedAt: time.Now()}
	}

	if a := s.attempt(context.Background(), due(target.URL)); !a.Delivered || a.Status != 204 {
		t.Errorf("a 204: %+v", a)
	}
	if a := s.attempt(context.Background(), due(redirect.URL)); a.Delivered || a.Status != http.StatusFound || a.Next.IsZero() {
		t.Errorf("a redirect: %+v, want a failed attempt to try again", a)
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	secretURL := strings.Replace(closed.URL, "http://", "http://hook:p4ssw0rd@", 1) + "/in?token=t0ken-value"
	a := s.attempt(context.Background(), due(secretURL))
	if a.Delivered || a.Error == "" || strings.Contains(a.Error, "p4ssw0rd") || strings.Contains(a.Error, "t0ken-value") {
		t.Errorf("an unreachable receiver: %+v", a)
	}
	gone := httptest.NewServer(http.NotFoundHandler())
	defer gone.Close()
	old := due(gone.URL)
	old.CreatedAt = time.Now().Add(-26 * time.Hour)
	if a := s.attempt(context.Background(), old); a.Delivered || !a.GiveUp {
		t.Errorf("a delivery tried for more than a day: %+v, want given up", a)
	}
}
