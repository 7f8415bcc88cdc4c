package api

import (
	"context"
	"net/http"
	"time"

	"github.com/google/uuid"
)

// waitParam reads ?wait= (Go syntax, 0 to MaxWait); a bad one gets a 400. Absent is 0: no waiting.
func waitParam(w http.ResponseWriter, r *http.Request) (time.Duration, bool) {
	v := r.URL.Query().Get("wait")
	if v == "" {
		return 0, true
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > MaxWait {
		writeError(w, http.StatusBadRequest, "invalid_request", "wait must be a duration from 0s to 60s, such as 30s",
			map[string]string{"wait": "must be a duration from 0s to 60s"})
		return 0, false
	}
	return d, true
}

// longPoll returns read's document as soon as it says it is finished, or when wait ends (SPEC §10). It
// subscribes before it reads, so that an end announced in between is not missed, and reads again only when
// woken: two reads for a request that waits, however long. Without a notifier it looks once a second.
func longPoll[T any](ctx context.Context, n subscriber, id uuid.UUID, wait time.Duration,
	read func(context.Context) (doc T, finished bool, err error)) (T, error) {
	deadline := time.Now().Add(wait)
	for {
		woken, unsubscribe := n.Subscribe(id)
		doc, finished, err := read(ctx)
		left := time.Until(deadline)
		if err != nil || finished || left <= 0 {
			unsubscribe()
			return doc, err
		}
		t := time.NewTimer(left)
		select {
		case <-woken:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		unsubscribe()
		if ctx.Err() != nil {
			return doc, ctx.Err()
		}
	}
}

// subscriber is what a long-poll needs of postgres.Notifier.
type subscriber interface {
	Subscribe(id uuid.UUID) (<-chan struct{}, func())
}

// everySecond stands in for a notifier when there is none: every waiter looks again after a second.
type everySecond struct{}

func (everySecond) Subscribe(uuid.UUID) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	t := time.AfterFunc(time.Second, func() { close(ch) })
	return ch, func() { t.Stop() }
}
