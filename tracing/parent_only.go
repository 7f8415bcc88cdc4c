package tracing

import (
	"context"

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
	return parentOnlyTracer{name: name, opts: opts}
}

type parentOnlyTracer struct {
	embedded.Tracer
	name string
	opts []trace.TracerOption
}

func (t parentOnlyTracer) Start(ctx context.Context, span string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return noop.NewTracerProvider().Tracer(t.name).Start(ctx, span, opts...)
	}
	// The global provider, looked up now: Setup may have installed it after this tracer was made.
	return otel.GetTracerProvider().Tracer(t.name, t.opts...).Start(ctx, span, opts...)
}
