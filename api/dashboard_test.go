package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/api"
	"github.com/ssosetup/ssosetup/storage/storagetest"
	"github.com/ssosetup/ssosetup/tasks"
)

// TestDashboardInBrowser loads the dashboard in headless Chromium with credentials and checks that the
// rendered page lists the product's queue. Chromium comes from `scripts/services.sh tools` (make test).
func TestDashboardInBrowser(t *testing.T) {
	t.Parallel()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium not found: run `scripts/services.sh tools` (make test does)")
	}
	opt, err := asynq.ParseRedisURI(storagetest.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(opt)
	defer client.Close()
	if _, err := client.Enqueue(tasks.NewStage(ssosetup.StageStart, uuid.New(), tasks.QueueSetups)); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.Handler(api.Config{
		Logger:            storagetest.Logger(t),
		Token:             token,
		Dashboard:         asynqmon.New(asynqmon.Options{RootPath: "/monitoring", RedisConnOpt: opt, ReadOnly: true}),
		DashboardUser:     "operator",
		DashboardPassword: "s3cret",
	}))
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/monitoring/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("dashboard without credentials: %d, want 401", resp.StatusCode)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	pageURL := strings.Replace(srv.URL, "http://", "http://operator:s3cret@", 1) + "/monitoring/"
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
		"--disable-quic", "--user-data-dir="+t.TempDir(), "--virtual-time-budget=5000", "--dump-dom", pageURL)
	dom, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	if !strings.Contains(string(dom), tasks.QueueSetups) {
		t.Errorf("the rendered dashboard does not list queue %s:\n%.2000s", tasks.QueueSetups, dom)
	}
}
