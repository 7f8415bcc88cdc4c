// Package tracing is the product's OpenTelemetry tracing (SPEC §13): configured by OpenTelemetry's standard
// environment variables, exporting OTLP over HTTP/protobuf, and off — no exporter, no cost — unless an
// endpoint is set. A job's trace context travels between its tasks in Asynq task headers (never payloads),
// and is kept on the job (its traceparent) for the tasks that Postgres, not a task, starts: the reconciler's,
// a retry's, a webhook delivery.
package tracing

import (
	"context"
	"errors"
	"os"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Name is the instrumentation scope of the product's own spans.
const Name = "github.com/ssosetup/ssosetup"

// Tracer is the product's tracer, from the global provider (a no-op one until Setup installs another).
func Tracer() trace.Tracer { return otel.Tracer(Name) }

// Enabled reports whether the environment asks for traces: an OTLP endpoint is set.
func Enabled() bool {
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// Setup installs the global tracer provider and the W3C propagator when Enabled, and returns the function
// that flushes and stops it; when not, it installs nothing and its shutdown does nothing.
func Setup(ctx context.Context) (shutdown func(context.Context) error, err error) {
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	if !Enabled() {
		return func(context.Context) error { return nil }, nil
	}
	exporter, err := otlptracehttp.New(ctx) // endpoint, headers, timeout and TLS from OTEL_EXPORTER_OTLP_*
	if err != nil {
		return nil, errors.New("OTEL_EXPORTER_OTLP_ENDPOINT: " + err.Error())
	}
	service := os.Getenv("OTEL_SERVICE_NAME")
	if service == "" {
		service = "ssosetup"
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attribute.String("service.name", service)))
	if err != nil {
		return nil, err
	}
	// The sampler comes from OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG (default: parent-based, always).
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	return tp.Shutdown, nil
}
