package loadtest

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// batchRowsMetric is the workers' histogram of events per ClickHouse INSERT: its count is the INSERTs, its
// sum the rows.
const batchRowsMetric = "ssosetup_eventstream_batch_rows"

// insertStats adds up the ClickHouse INSERTs and their rows over the workers' /metrics endpoints. The load
// test reads them from there, after the fact, so that nothing of it runs on the product's hot path.
func insertStats(ctx context.Context, urls []string) (inserts, rows int64, err error) {
	for _, u := range urls {
		n, sum, err := scrapeHistogram(ctx, u, batchRowsMetric)
		if err != nil {
			return 0, 0, err
		}
		inserts += n
		rows += sum
	}
	return inserts, rows, nil
}

func scrapeHistogram(ctx context.Context, url, name string) (count, sum int64, err error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("read the workers' metrics at %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("read the workers' metrics at %s: HTTP %d", url, resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return 0, 0, fmt.Errorf("parse the metrics at %s: %w", url, err)
	}
	if f, ok := families[name]; ok {
		for _, m := range f.GetMetric() {
			count += int64(m.GetHistogram().GetSampleCount())
			sum += int64(m.GetHistogram().GetSampleSum())
		}
	}
	return count, sum, nil
}
