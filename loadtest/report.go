package loadtest

import (
	"fmt"
	"io"
	"sort"
)

// Report is the outcome of a load test; its JSON keys are SPEC §8's.
type Report struct {
	Jobs                    int            `json:"jobs"`
	Succeeded               int            `json:"succeeded"`
	Failed                  int            `json:"failed"`
	FailuresByCode          map[string]int `json:"failures_by_code"`
	WallSeconds             float64        `json:"wall_seconds"`
	JobsPerSecond           float64        `json:"jobs_per_second"`
	LatencyMS               Latency        `json:"latency_ms"`
	ClickHouseInserts       int64          `json:"clickhouse_inserts"`
	RowsPerInsert           float64        `json:"rows_per_insert"`
	InvariantsOK            bool           `json:"invariants_ok"`
	InvariantProblems       []string       `json:"invariant_problems"`
	BaselineChainsPerSecond *float64       `json:"baseline_chains_per_second,omitempty"`
	Ratio                   *float64       `json:"ratio,omitempty"`
}

// Latency is end-to-end latency (job recorded → finished) in milliseconds.
type Latency struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
}

// Print writes the report for a person.
func (r Report) Print(w io.Writer) {
	fmt.Fprintf(w, "jobs submitted      %d\n", r.Jobs)
	fmt.Fprintf(w, "succeeded           %d\n", r.Succeeded)
	fmt.Fprintf(w, "failed              %d\n", r.Failed)
	codes := make([]string, 0, len(r.FailuresByCode))
	for c := range r.FailuresByCode {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	for _, c := range codes {
		fmt.Fprintf(w, "  %-18s%d\n", c, r.FailuresByCode[c])
	}
	fmt.Fprintf(w, "wall time           %.2f s\n", r.WallSeconds)
	fmt.Fprintf(w, "throughput          %.1f jobs/s\n", r.JobsPerSecond)
	fmt.Fprintf(w, "latency p50/p95/p99 %.1f / %.1f / %.1f ms\n", r.LatencyMS.P50, r.LatencyMS.P95, r.LatencyMS.P99)
	fmt.Fprintf(w, "clickhouse INSERTs  %d (%.1f rows per INSERT)\n", r.ClickHouseInserts, r.RowsPerInsert)
	if r.InvariantsOK {
		fmt.Fprintf(w, "invariants          ok\n")
	} else {
		fmt.Fprintf(w, "invariants          BROKEN: %v\n", r.InvariantProblems)
	}
	if r.BaselineChainsPerSecond != nil {
		fmt.Fprintf(w, "baseline            %.1f no-op 7-task chains/s\n", *r.BaselineChainsPerSecond)
	}
	if r.Ratio != nil {
		fmt.Fprintf(w, "ratio               %.2f (jobs/s ÷ chains/s)\n", *r.Ratio)
	}
}
