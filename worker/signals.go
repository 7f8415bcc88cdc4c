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
	ticker := time.NewTicker(f.interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-f.wakeup:
		}
		for {
			n, err := f.store.DeliverSignals(ctx, 100)
			if err != nil {
				if ctx.Err() == nil {
					f.log.WarnContext(ctx, "signal delivery failed; will retry", "error", err.Error())
				}
				break
			}
			if n < 100 {
				break
			}
		}
	}
}
