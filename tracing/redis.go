package tracing

import (
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
)

// Redis wraps a Redis connection option so that every client made from it (Asynq's, the reconciler's)
// traces its commands beneath a job's spans, with go-redis's own OpenTelemetry hook; opt itself when tracing
// is off.
func Redis(opt asynq.RedisConnOpt) asynq.RedisConnOpt {
	if !Enabled() {
		return opt
	}
	return tracedRedis{opt}
}

type tracedRedis struct{ asynq.RedisConnOpt }

func (o tracedRedis) MakeRedisClient() interface{} {
	c := o.RedisConnOpt.MakeRedisClient()
	if client, ok := c.(redis.UniversalClient); ok {
		_ = redisotel.InstrumentTracing(client, redisotel.WithTracerProvider(ParentOnly()), redisotel.WithDBStatement(false))
	}
	return c
}
