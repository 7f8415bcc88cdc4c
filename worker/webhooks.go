package worker

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ssosetup/ssosetup/redact"
	"github.com/ssosetup/ssosetup/storage/postgres"
	"github.com/ssosetup/ssosetup/webhook"
)

// Webhook delivery (SPEC §11): at least once, in parallel, 5 s per attempt, backing off after a failure
// for at least a day.
const (
	webhookTimeout   = 5 * time.Second
	webhookBatch     = 64
	webhookParallel  = 16
	webhookLease     = 30 * time.Second // longer than an attempt: a claim that outlives it belongs to a dead worker
	webhookRetryMin  = 5 * time.Second
	webhookGiveUp    = 25 * time.Hour
	webhookPollEvery = time.Second
)

// webhookSender delivers the outbox's webhooks; a receiver that is down delays its deliveries, never a job.
type webhookSender struct {
	w        *Worker
	key      []byte
	client   *http.Client
	retryMax time.Duration
}

func (s *webhookSender) run(ctx context.Context) {
	t := time.NewTicker(webhookPollEvery)
	defer t.Stop()
	for {
		for {
			n, err := s.round(ctx)
			if err != nil && ctx.Err() == nil {
				s.w.log.WarnContext(ctx, "webhook deliveries could not be claimed; will try again", "error", err.Error())
			}
			if n < webhookBatch || err != nil {
				break // caught up: wait for the next tick
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// round claims the due deliveries and attempts each; it returns how many it claimed.
func (s *webhookSender) round(ctx context.Context) (int, error) {
	due, err := s.w.store.ClaimWebhooks(ctx, webhookBatch, webhookLease)
	if err != nil {
		return 0, err
	}
	g, gctx := errgroup.WithContext(context.WithoutCancel(ctx)) // an attempt under way is finished and recorded
	g.SetLimit(webhookParallel)
	for _, d := range due {
		g.Go(func() error {
			a := s.attempt(gctx, d)
			if err := s.w.store.RecordWebhook(gctx, d.ID, a); err != nil {
				// The claim runs out and the delivery is attempted again: at least once.
				s.w.log.WarnContext(ctx, "webhook attempt not recorded", "delivery_id", d.ID, "error", err.Error())
			}
			s.w.metrics.WebhookAttempts.WithLabelValues(outcomeOf(a)).Inc()
			return nil
		})
	}
	return len(due), g.Wait()
}

func outcomeOf(a postgres.WebhookAttempt) string {
	switch {
	case a.Delivered:
		return "delivered"
	case a.GiveUp:
		return "given_up"
	}
	return "failed"
}

// attempt posts one delivery, signed, and says what became of it.
func (s *webhookSender) attempt(ctx context.Context, d postgres.DueWebhook) postgres.WebhookAttempt {
	ctx, cancel := context.WithTimeout(ctx, webhookTimeout)
	defer cancel()
	a := postgres.WebhookAttempt{}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(d.Payload))
	if err == nil {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "ssosetup-webhooks")
		webhook.SetHeaders(req.Header, s.key, d.ID.String(), time.Now(), d.Payload)
		var resp *http.Response
		if resp, err = s.client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			a.Status = resp.StatusCode
			if resp.StatusCode/100 == 2 {
				a.Delivered = true
				return a
			}
			a.Error = fmt.Sprintf("the receiver answered %d", resp.StatusCode)
		}
	}
	if err != nil {
		// The URL may carry a secret in its query; the client's error repeats it.
		a.Error = strings.ReplaceAll(err.Error(), d.URL, redact.URL(d.URL))
	}
	a.Next = time.Now().Add(backoff(d.Attempts, webhookRetryMin, s.retryMax))
	a.GiveUp = time.Since(d.CreatedAt) > webhookGiveUp
	return a
}

// backoff is the wait after the n-th failed attempt: doubling from min, capped at max.
func backoff(n int, min, max time.Duration) time.Duration {
	d := min
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	return minDuration(d, max)
}

func minDuration(a, b time.Duration) time.Duration {
	if a < b {
		return a
	}
	return b
}
