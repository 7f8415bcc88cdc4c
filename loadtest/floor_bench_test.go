package loadtest

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ssosetup/ssosetup/storage/storagetest"
)

// BenchmarkChainFloor measures the chains of the load test's baseline with Postgres work added to every
// task, to show what any design that commits to Postgres once per stage can reach on this machine:
//
//   - noop: the baseline itself (the ratio's denominator);
//   - one_statement: each task commits one tiny statement (record the stage, move the job), one round trip;
//   - stage_frame: each task runs the smallest exactly-once frame, as the worker's stages do: lock the job
//     (with BEGIN), check the stage record, write the record (with COMMIT). Three round trips, no business
//     logic.
//   - stage_function: the same frame plus two small business writes (an audit-like insert and a row update),
//     all inside one server-side function: one round trip per stage, the fewest a design that commits each
//     stage to Postgres can have.
//   - group_one_statement, group_stage_function: the one_statement and stage_function work, but committed
//     together with that of other tasks running at the same time: one transaction and one round trip for
//     many stages. The ceiling of a design that commits the stages of many jobs at once.
//
// Run with a fixed count, as the load test does: go test -run XXX -bench ChainFloor -benchtime 1200x ./loadtest/
func BenchmarkChainFloor(b *testing.B) {
	ctx := context.Background()
	pool := storagetest.Postgres(b)
	redis, err := asynq.ParseRedisURI(storagetest.RedisURL(b))
	if err != nil {
		b.Fatal(err)
	}
	_, err = pool.Exec(ctx, `
		CREATE TABLE floor_jobs (id bigint PRIMARY KEY, stage int NOT NULL, updated_at timestamptz NOT NULL);
		CREATE TABLE floor_stages (id bigint, stage int, at timestamptz NOT NULL, PRIMARY KEY (id, stage));
		CREATE TABLE floor_audit (id bigserial PRIMARY KEY, job bigint NOT NULL, stage int NOT NULL, data jsonb NOT NULL,
			UNIQUE (job, stage));
		CREATE TABLE floor_members (id bigint PRIMARY KEY, linked bool NOT NULL DEFAULT false);
		CREATE FUNCTION floor_stage(job bigint, st int) RETURNS bool LANGUAGE plpgsql AS $$
		BEGIN
			INSERT INTO floor_jobs VALUES (job, 0, now()) ON CONFLICT (id) DO UPDATE SET updated_at = floor_jobs.updated_at;
			IF EXISTS (SELECT 1 FROM floor_stages WHERE id = job AND stage = st) THEN
				RETURN false;
			END IF;
			INSERT INTO floor_audit (job, stage, data) VALUES (job, st, jsonb_build_object('stage', st))
				ON CONFLICT DO NOTHING;
			INSERT INTO floor_members VALUES (job, true) ON CONFLICT (id) DO UPDATE SET linked = NOT floor_members.linked;
			INSERT INTO floor_stages VALUES (job, st, now());
			UPDATE floor_jobs SET stage = st, updated_at = now() WHERE id = job;
			RETURN true;
		END $$`)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		work func(b *testing.B, pool *pgxpool.Pool) chainWork
	}{
		{"noop", func(*testing.B, *pgxpool.Pool) chainWork { return nil }},
		{"one_statement", oneStatement},
		{"stage_frame", stageFrame},
		{"stage_function", stageFunction},
		{"group_one_statement", groupCommitted(oneStatementSQL)},
		{"group_stage_function", groupCommitted(stageFunctionSQL)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			if _, err := pool.Exec(ctx, `TRUNCATE floor_jobs, floor_stages, floor_audit, floor_members`); err != nil {
				b.Fatal(err)
			}
			rate, err := runBaseline(ctx, redis, b.N, 256, 10*time.Millisecond, bc.work(b, pool))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(rate, "chains/s")
		})
	}
}

const oneStatementSQL = `
	WITH rec AS (INSERT INTO floor_stages VALUES ($1, $2, now()) ON CONFLICT DO NOTHING)
	INSERT INTO floor_jobs VALUES ($1, $2, now())
	ON CONFLICT (id) DO UPDATE SET stage = excluded.stage, updated_at = now()`

const stageFunctionSQL = `SELECT floor_stage($1, $2)`

func oneStatement(_ *testing.B, pool *pgxpool.Pool) chainWork {
	return func(ctx context.Context, chain uint32, step byte) error {
		_, err := pool.Exec(ctx, oneStatementSQL, int64(chain), int(step))
		return err
	}
}

func stageFrame(_ *testing.B, pool *pgxpool.Pool) chainWork {
	return func(ctx context.Context, chain uint32, step byte) error {
		conn, err := pool.Acquire(ctx)
		if err != nil {
			return err
		}
		defer conn.Release()
		batch := &pgx.Batch{}
		batch.Queue("BEGIN")
		batch.Queue(`
			INSERT INTO floor_jobs VALUES ($1, 0, now())
			ON CONFLICT (id) DO UPDATE SET updated_at = floor_jobs.updated_at`, int64(chain)) // locks the row
		if err := conn.SendBatch(ctx, batch).Close(); err != nil {
			_, _ = conn.Exec(ctx, "ROLLBACK")
			return err
		}
		var done bool
		err = conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM floor_stages WHERE id = $1 AND stage = $2)`,
			int64(chain), int(step)).Scan(&done)
		if err != nil || done {
			_, _ = conn.Exec(ctx, "ROLLBACK")
			return err
		}
		batch = &pgx.Batch{}
		batch.Queue(`
			WITH rec AS (INSERT INTO floor_stages VALUES ($1, $2, now()))
			UPDATE floor_jobs SET stage = $2, updated_at = now() WHERE id = $1`, int64(chain), int(step))
		batch.Queue("COMMIT")
		return conn.SendBatch(ctx, batch).Close()
	}
}

func stageFunction(_ *testing.B, pool *pgxpool.Pool) chainWork {
	return func(ctx context.Context, chain uint32, step byte) error {
		_, err := pool.Exec(ctx, stageFunctionSQL, int64(chain), int(step))
		return err
	}
}

// groupCommitted sends each task's statement to committers that run whatever has queued up, from many
// tasks, as one pipelined transaction (BEGIN, the statements, COMMIT in one round trip); a task returns once
// the transaction holding its statement committed. This is the ceiling of a design that commits the stages
// of many jobs together, with each stage one statement.
func groupCommitted(sql string) func(b *testing.B, pool *pgxpool.Pool) chainWork {
	return func(b *testing.B, pool *pgxpool.Pool) chainWork {
		type request struct {
			chain int64
			step  int
			done  chan error
		}
		queue := make(chan request, 1024)
		b.Cleanup(func() { close(queue) })
		for range 2 { // two, so that one collects a batch while the other's is in flight
			go func() {
				for first := range queue {
					pending := []request{first}
				drain:
					for len(pending) < 512 {
						select {
						case r := <-queue:
							pending = append(pending, r)
						default:
							break drain
						}
					}
					batch := &pgx.Batch{}
					batch.Queue("BEGIN")
					for _, r := range pending {
						batch.Queue(sql, r.chain, r.step)
					}
					batch.Queue("COMMIT")
					err := pool.SendBatch(context.Background(), batch).Close()
					for _, r := range pending {
						r.done <- err
					}
				}
			}()
		}
		return func(ctx context.Context, chain uint32, step byte) error {
			r := request{chain: int64(chain), step: int(step), done: make(chan error, 1)}
			queue <- r
			return <-r.done
		}
	}
}
