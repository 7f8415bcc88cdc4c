package postgres

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Notifier tells waiting long-polls (SPEC §10) when their job or batch finished: one Postgres connection
// listens on NotifyChannel, on which every finishing transaction announces its job (finishedSQL), and wakes
// the waiters of the ids it names. Postgres sees one notification per finished job, however many clients
// wait and however long.
type Notifier struct {
	store *Store
	log   *slog.Logger

	mu      sync.Mutex
	waiters map[uuid.UUID]map[chan struct{}]struct{}
}

// NewNotifier returns a notifier on the store's pool; Run it.
func (s *Store) NewNotifier(log *slog.Logger) *Notifier {
	return &Notifier{store: s, log: log, waiters: map[uuid.UUID]map[chan struct{}]struct{}{}}
}

// Subscribe returns a channel closed when id (a job's or a batch's) is announced finished, or when the
// notifier lost its connection (a waiter then looks again), and the function that unsubscribes.
func (n *Notifier) Subscribe(id uuid.UUID) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	n.mu.Lock()
	if n.waiters[id] == nil {
		n.waiters[id] = map[chan struct{}]struct{}{}
	}
	n.waiters[id][ch] = struct{}{}
	n.mu.Unlock()
	return ch, func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		if set := n.waiters[id]; set != nil {
			delete(set, ch)
			if len(set) == 0 {
				delete(n.waiters, id)
			}
		}
	}
}

// wake closes the channels of the ids' waiters; nil wakes everyone.
func (n *Notifier) wake(ids []uuid.UUID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if ids == nil {
		for id := range n.waiters {
			ids = append(ids, id)
		}
	}
	for _, id := range ids {
		for ch := range n.waiters[id] {
			close(ch)
		}
		delete(n.waiters, id)
	}
}

// Run listens until ctx ends, reconnecting after a lost connection; every waiter is woken after a
// reconnection, since a notification may have been missed meanwhile.
func (n *Notifier) Run(ctx context.Context) {
	for ctx.Err() == nil {
		err := n.listen(ctx)
		if ctx.Err() != nil {
			return
		}
		n.log.WarnContext(ctx, "lost the connection that long-polls wait on; reconnecting", "error", err.Error())
		n.wake(nil)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (n *Notifier) listen(ctx context.Context) error {
	pooled, err := n.store.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// A listening connection is never handed back to the pool: it would keep receiving.
	conn := pooled.Hijack()
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+NotifyChannel); err != nil {
		return err
	}
	n.wake(nil) // what finished before the LISTEN took effect is seen by the waiters' next look
	for {
		msg, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		var ids []uuid.UUID
		for _, f := range strings.Fields(msg.Payload) {
			if id, err := uuid.Parse(f); err == nil {
				ids = append(ids, id)
			}
		}
		n.wake(ids)
	}
}
