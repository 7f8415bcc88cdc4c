package console_test

import (
	"context"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/ssosetup/ssosetup"
)

// screenshotDir is where the browser test leaves its screenshots (test artifacts; CI keeps the directory).
func screenshotDir(t *testing.T) string {
	dir := os.Getenv("SSOSETUP_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "ssosetup-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// In a real headless Chromium, as an operator: from /console/ to a failed job's cause and a retry in three
// clicks — filter the failed jobs, open the job, press Retry — and the job succeeds. Screenshots of each page
// are saved.
func TestConsoleInABrowser(t *testing.T) {
	t.Parallel()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium not found: run `scripts/services.sh tools` (make test does)")
	}
	w := newWorld(t, false)
	failed := w.finished(w.request()) // not a member: fails at start
	w.db.Member(w.org, w.admin, "owner")

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1280, 900))...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	defer cancelTimeout()

	dir := screenshotDir(t)
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, name), png, 0o644)
		})
	}
	jobLink := chromedp.CSS(`a[href="/console/setups/` + failed.SetupID.String() + `"]`)
	err = chromedp.Do(ctx,
		// Basic auth travels in a header: Chromium drops credentials from navigated URLs.
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error { return setBasicAuth(ctx, operator, password) }),
		chromedp.Navigate(w.srv.URL+"/console/"),
		chromedp.WaitVisible(chromedp.CSS(`#f-status`)),
		shot("console-list.png"),
		chromedp.SetValue(chromedp.CSS(`#f-status`), "failed"),
		chromedp.Click(chromedp.CSS(`form.filters button`)), // click 1: the failed jobs
		chromedp.WaitVisible(jobLink),
		chromedp.Click(jobLink), // click 2: the job
		chromedp.WaitVisible(chromedp.CSS(`#error`)),
	)
	if err != nil {
		t.Fatalf("in the browser: %v", err)
	}
	cause, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`section.error`)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cause, "not_a_member") || !strings.Contains(cause, "Fix the membership") {
		t.Errorf("the job page's error section: %q", cause)
	}
	if err := chromedp.Do(ctx, shot("console-failed-job.png"),
		chromedp.Click(chromedp.CSS(`form[action$="/retry"] button`)), // click 3: retry
		chromedp.WaitVisible(chromedp.CSS(`.notice`)),
	); err != nil {
		t.Fatalf("pressing Retry: %v", err)
	}
	var status string
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(status, "succeeded") && time.Now().Before(deadline); {
		// The page of an unfinished job reloads itself every 5 s; read it again until it shows the end.
		if err := chromedp.Do(ctx, chromedp.Sleep(500*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		if status, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`dl.facts dd`))); err != nil {
			t.Fatal(err)
		}
	}
	if err := chromedp.Do(ctx, shot("console-retried-job.png")); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(status, "succeeded") {
		t.Errorf("after Retry the page shows %q, want succeeded", status)
	}
	st, err := w.store.SetupStatus(w.db.Ctx, failed.SetupID)
	if err != nil || st.Status != ssosetup.StatusSucceeded || st.Retries != 1 {
		t.Errorf("the job after the browser's retry: %s retries %d, %v", st.Status, st.Retries, err)
	}
	t.Logf("screenshots in %s", dir)
}

// setBasicAuth sends the dashboard's credentials with every request of the page.
func setBasicAuth(ctx context.Context, user, pass string) error {
	token := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		return err
	}
	_, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders,
		network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": "Basic " + token}})
	return err
}
