package worker

import (
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ssosetup/ssosetup/tracing"

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
	// An attempt under way when the worker stops is finished and recorded; one not begun yet is left to its
	// claim's expiry, and another worker.
	g, gctx := errgroup.WithContext(context.WithoutCancel(ctx))
	g.SetLimit(webhookParallel)
	for _, d := range due {
		g.Go(func() error {
			if ctx.Err() != nil {
				return nil
			}
			actx, span := tracing.ParentOnly().Tracer(tracing.Name).Start(tracing.FromTraceparent(gctx, d.Traceparent),
				"webhook delivery", trace.WithSpanKind(trace.SpanKindClient),
				trace.WithAttributes(attribute.String("ssosetup.delivery_id", d.ID.String()), attribute.Int("ssosetup.attempt", d.Attempts)))
			a := s.attempt(actx, d)
			span.SetAttributes(attribute.Int("http.response.status_code", a.Status), attribute.Bool("ssosetup.delivered", a.Delivered))
			span.End()
			rctx, cancel := context.WithTimeout(gctx, webhookTimeout)
			defer cancel()
			if err := s.w.store.RecordWebhook(rctx, d.ID, d.Attempts, a); err != nil {
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
		a.Error = attemptError(err, d.URL)
	}
	// Doubling from webhookRetryMin after each failed attempt, capped, as the tasks' retries back off.
	a.Next = time.Now().Add(min(webhookRetryMin<<min(d.Attempts-1, 20), s.retryMax))
	a.GiveUp = time.Since(d.CreatedAt) > webhookGiveUp
	return a
}

// attemptError describes a failed attempt without the receiver URL's secrets (its password, a token in its
// query), which the client's own error repeats.
func attemptError(err error, target string) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + " " + redact.URL(target) + ": " + ue.Err.Error()
	}
	return strings.ReplaceAll(err.Error(), target, redact.URL(target))
}

// newWebhookClient is the HTTP client of deliveries: 5 s an attempt, and redirects are not followed (a
// redirect is no 2xx, and following it would turn the POST into a GET without the body).
func newWebhookClient() *http.Client {
	return &http.Client{Timeout: webhookTimeout, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}
