package worker

import (
	"context"
	"log/slog"
	"time"

	"github.com/ssosetup/ssosetup/storage/postgres"
)

// signalForwarder delivers the signals outbox (SPEC §3.8). It runs when woken by a stage that wrote a signal
// and, to catch anything missed (a crash, another replica's signals), every few seconds.
type signalForwarder struct {
	store    *postgres.Store
	log      *slog.Logger
	wakeup   chan struct{}
	interval time.Duration
}

func newSignalForwarder(store *postgres.Store, log *slog.Logger) *signalForwarder {
	return &signalForwarder{store: store, log: log, wakeup: make(chan struct{}, 1), interval: 5 * time.Second}
}

// wake asks for a delivery round soon; it never blocks.
func (f *signalForwarder) wake() {
	select {
	case f.wakeup <- struct{}{}:
	default:
	}
}

func (f *signalForwarder) run(ctx context.Context) {
	every(ctx, f.interval, f.wakeup, f.deliver)
}

// deliver delivers every pending signal, a hundred per transaction.
func (f *signalForwarder) deliver(ctx context.Context) {
	for {
		n, poison, err := f.store.DeliverSignals(ctx, 100)
		if err != nil {
			if ctx.Err() == nil {
				f.log.WarnContext(ctx, "signal delivery failed; will retry", "error", err.Error())
			}
			break
		}
		for _, p := range poison { // logged once: a set-aside signal is not read again
			f.log.ErrorContext(ctx, "signal can never be delivered; set aside", "signal_id", p.ID, "name", p.Name,
				"error", p.Error)
		}
		if n+len(poison) < 100 {
			break
		}
	}
}

// every runs fn each interval, and also whenever wake receives (nil: never), until ctx is done.
func every(ctx context.Context, interval time.Duration, wake <-chan struct{}, fn func(context.Context)) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-wake:
		}
		fn(ctx)
	}
}
