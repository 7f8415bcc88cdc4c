package tracing

import (
	"context"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
	"go.opentelemetry.io/otel/trace/noop"
)

// ParentOnly is a tracer provider for the instrumentation of stores (Postgres, Redis): it records a span only
// beneath another, so that a job's statements appear in its trace while the background's polling (Asynq's
// Redis commands every few milliseconds, the reconciler's queries) starts no traces of its own.
func ParentOnly() trace.TracerProvider { return parentOnly{} }

type parentOnly struct{ embedded.TracerProvider }

func (parentOnly) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return &parentOnlyTracer{name: name, opts: opts}
}

type parentOnlyTracer struct {
	embedded.Tracer
	name string
	opts []trace.TracerOption
	// The global provider's tracer, and the provider it came from: Setup may install another provider after
	// this tracer was made (tests do), and then it is looked up again.
	cached atomic.Pointer[providerTracer]
}

type providerTracer struct {
	provider trace.TracerProvider
	tracer   trace.Tracer
}

var noopTracer = noop.NewTracerProvider().Tracer("")

func (t *parentOnlyTracer) Start(ctx context.Context, span string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return noopTracer.Start(ctx, span, opts...)
	}
	provider := otel.GetTracerProvider()
	c := t.cached.Load()
	if c == nil || c.provider != provider {
		c = &providerTracer{provider: provider, tracer: provider.Tracer(t.name, t.opts...)}
		t.cached.Store(c)
	}
	return c.tracer.Start(ctx, span, opts...)
}
