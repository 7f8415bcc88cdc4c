package worker

import (
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"context"
	"time"

	"github.com/ssosetup/ssosetup/tracing"

	"github.com/ssosetup/ssosetup/eventstream"
)

// eventWriter writes a batch of events in one INSERT; *clickhouse.Events is one.
type eventWriter interface {
	Insert(ctx context.Context, events []eventstream.Event) error
}

// eventBatcher is an in-process group commit for the eventstream: save_event handlers hand it their event
// and wait until the INSERT that carries it has returned, so a stage is never acknowledged before its event
// is written. While one INSERT runs, the events that arrive meanwhile gather into the next, so batches grow
// with load by themselves; when idle, an event waits at most maxDelay for company.
//
// A batch also goes once every task the worker is running has been waiting in it for idleGrace: then no
// other event can join (the handlers that could are all here, and the queues gave the worker nothing new for
// longer than its poll interval), and waiting out a bulk delay would only leave the machine idle. This is
// what keeps the tail of a bulk load, and a worker whose slots are all waiting, moving. The grace matters:
// between two tasks there are instants when nothing else runs even though the queue is full.
//
// Asynq's own group aggregation was not chosen: its grace period is at least a second, which every setup
// would pay even on an idle system, while an INSERT here costs about the same for 1 row as for 1,000.
type eventBatcher struct {
	w         eventWriter
	maxBatch  int
	maxDelay  time.Duration
	bulkDelay time.Duration
	requests  chan saveRequest
	observe   func(rows int, took time.Duration, err error)
	running   func() int // tasks the worker is running, this batch's waiters included; nil: unknown
	idleGrace time.Duration
	// insertTimeout bounds one INSERT; it serves many tasks, so it has a deadline of its own, well under a
	// task's timeout.
	insertTimeout time.Duration
}

// idleCheck is how often a waiting batch checks whether the worker's other tasks have finished.
const idleCheck = 5 * time.Millisecond

type saveRequest struct {
	ev    eventstream.Event
	delay time.Duration // how long this event may wait for others
	done  chan error
	span  trace.Span // the stage's span, linked to the INSERT that carried its event
}

func newEventBatcher(w eventWriter, maxBatch int, maxDelay, bulkDelay time.Duration, observe func(int, time.Duration, error), running func() int, idleGrace time.Duration) *eventBatcher {
	if observe == nil {
		observe = func(int, time.Duration, error) {}
	}
	return &eventBatcher{w: w, maxBatch: maxBatch, maxDelay: maxDelay, bulkDelay: bulkDelay,
		requests: make(chan saveRequest), observe: observe, running: running, idleGrace: idleGrace,
		insertTimeout: 10 * time.Second}
}

// othersDone reports whether every running task is waiting in a batch of n.
func (b *eventBatcher) othersDone(n int) bool {
	return b.running != nil && n >= b.running()
}

// Save writes ev as part of a batch and returns the batch's INSERT error. ev waits at most maxDelay for
// others, or bulkDelay when bulk is set: bulk work trades latency for far fewer, larger INSERTs.
func (b *eventBatcher) Save(ctx context.Context, ev eventstream.Event, bulk bool) error {
	delay := b.maxDelay
	if bulk {
		delay = b.bulkDelay
	}
	req := saveRequest{ev: ev, delay: delay, done: make(chan error, 1), span: trace.SpanFromContext(ctx)}
	select {
	case b.requests <- req:
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once handed over, wait for the INSERT even if ctx ends: the outcome decides whether the task is acked.
	return <-req.done
}

// run collects and writes batches until ctx is done. The worker stops it only after the Asynq server has
// shut down, so no handler is left waiting.
func (b *eventBatcher) run(ctx context.Context) {
	for {
		var batch []saveRequest
		select {
		case <-ctx.Done():
			return
		case req := <-b.requests:
			batch = append(batch, req)
		}
		// The batch goes when its most impatient event has waited long enough.
		deadline := time.Now().Add(batch[0].delay)
		timer := time.NewTimer(batch[0].delay)
		check := time.NewTicker(idleCheck)
		var allWaitingSince time.Time
	collect:
		for len(batch) < b.maxBatch {
			select {
			case req := <-b.requests:
				batch = append(batch, req)
				if d := time.Now().Add(req.delay); d.Before(deadline) {
					deadline = d
					timer.Reset(time.Until(deadline))
				}
			case now := <-check.C:
				switch {
				case !b.othersDone(len(batch)):
					allWaitingSince = time.Time{}
				case allWaitingSince.IsZero():
					allWaitingSince = now
				case now.Sub(allWaitingSince) >= b.idleGrace:
					break collect
				}
			case <-timer.C:
				break collect
			case <-ctx.Done():
				break collect
			}
		}
		timer.Stop()
		check.Stop()
		b.flush(batch)
	}
}

func (b *eventBatcher) flush(batch []saveRequest) {
	events := make([]eventstream.Event, len(batch))
	var links []trace.Link
	for i, r := range batch {
		events[i] = r.ev
		if sc := r.span.SpanContext(); sc.IsValid() {
			links = append(links, trace.Link{SpanContext: sc})
		}
	}
	// One span for the INSERT, linked to the stages it carried and linked from each of them (SPEC §13). It
	// is a root of its own: it belongs to many jobs' traces at once.
	ctx, span := tracing.Tracer().Start(context.Background(), "clickhouse insert events",
		trace.WithNewRoot(), trace.WithSpanKind(trace.SpanKindClient), trace.WithLinks(links...),
		trace.WithAttributes(attribute.Int("ssosetup.events", len(events))))
	ctx, cancel := context.WithTimeout(ctx, b.insertTimeout)
	began := time.Now()
	err := b.w.Insert(ctx, events)
	took := time.Since(began)
	cancel()
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
	for _, r := range batch { // the waiting stages first: nothing else may delay them
		if len(links) > 0 {
			r.span.AddLink(trace.Link{SpanContext: span.SpanContext()})
		}
		r.done <- err
	}
	b.observe(len(events), took, err)
}
