package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/ssosetup/ssosetup/client"
)

// listCmd prints jobs, newest first, as a table or as JSON lines (SPEC §6).
func listCmd(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	var f client.ListFilter
	fs.StringVar(&f.Status, "status", "", "queued, running, succeeded, failed or cancelled")
	fs.StringVar(&f.Flow, "flow", "", "setup or link")
	fs.StringVar(&f.ErrorCode, "code", "", "error code (SPEC §3.9)")
	fs.StringVar(&f.BatchID, "batch", "", "batch id")
	org := fs.String("org", "", "organization id or slug")
	limit := fs.Int("limit", 50, "how many jobs to print")
	asJSON := fs.Bool("json", false, "print JSON lines instead of a table")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || *limit < 1 {
		return errUsage
	}
	if id, err := strconv.ParseInt(*org, 10, 64); err == nil {
		f.OrganizationID = id
	} else {
		f.OrganizationSlug = *org
	}
	c := client.New(cfg.APIURL, cfg.APIToken)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	if !*asJSON {
		fmt.Fprintln(tw, "SETUP_ID\tSTATUS\tFLOW\tORG\tSTAGE\tERROR\tRETRIES\tCREATED")
	}
	for printed := 0; printed < *limit; {
		f.Limit = min(*limit-printed, 500)
		page, err := c.List(ctx, f)
		if err != nil {
			return err
		}
		for _, raw := range page.Setups {
			if *asJSON {
				fmt.Fprintln(stdout, string(raw))
			} else {
				printRow(tw, raw)
			}
			printed++
		}
		if page.NextCursor == nil || len(page.Setups) == 0 {
			break
		}
		f.Cursor = *page.NextCursor
	}
	return tw.Flush()
}

func printRow(w io.Writer, raw json.RawMessage) {
	var s struct {
		SetupID, Status, Flow, Stage string
		OrganizationID               *int64    `json:"organization_id"`
		Retries                      int       `json:"retries"`
		CreatedAt                    time.Time `json:"created_at"`
		Error                        *struct{ Code string }
	}
	_ = json.Unmarshal(raw, &s)
	org, code := "-", "-"
	if s.OrganizationID != nil {
		org = strconv.FormatInt(*s.OrganizationID, 10)
	}
	if s.Error != nil {
		code = s.Error.Code
	}
	var id struct {
		SetupID string `json:"setup_id"`
	}
	_ = json.Unmarshal(raw, &id)
	fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", id.SetupID, s.Status, s.Flow, org, s.Stage, code, s.Retries,
		s.CreatedAt.Local().Format(time.DateTime))
}

// cancelCmd and retryCmd steer one job (SPEC §10); a refusal exits 1 with the API's message.
func cancelCmd(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return errUsage
	}
	st, err := client.New(cfg.APIURL, cfg.APIToken).Cancel(ctx, args[0])
	if err != nil {
		return err
	}
	printJSON(stdout, st.Raw)
	return nil
}

func retryCmd(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("retry", flag.ContinueOnError)
	key := fs.String("idempotency-key", "", "Idempotency-Key header: a repeat retries nothing again")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		return errUsage
	}
	st, err := client.New(cfg.APIURL, cfg.APIToken).Retry(ctx, fs.Arg(0), *key)
	if err != nil {
		return err
	}
	printJSON(stdout, st.Raw)
	return nil
}

// batchCmd submits a batch — {"setups": [...]} or one request body a line — and prints its id; with --wait
// it shows the batch's progress (a bar on a terminal) and ends with its counts, exit 1 if any job failed.
func batchCmd(ctx context.Context, cfg config, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("batch", flag.ContinueOnError)
	file := fs.String("f", "-", "the batch: {\"setups\": [...]}, or one JSON request a line (- for stdin)")
	wait := fs.Bool("wait", false, "wait for the batch to finish, showing its progress")
	key := fs.String("idempotency-key", "", "Idempotency-Key header for the whole batch")
	priority := fs.String("priority", "", "bulk (default) or interactive")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return errUsage
	}
	in := stdin
	if *file != "-" {
		f, err := os.Open(*file)
		if err != nil {
			return fmt.Errorf("read batch: %w", err)
		}
		defer f.Close()
		in = f
	}
	body, err := batchBody(in, *priority)
	if err != nil {
		return err
	}
	c := client.New(cfg.APIURL, cfg.APIToken)
	created, err := c.SubmitBatch(ctx, body, *key)
	if err != nil {
		return err
	}
	for i, r := range created.Results {
		if r.Error != nil {
			fmt.Fprintf(stderr, "item %d refused: %s: %s\n", i, r.Error.Code, r.Error.Message)
		}
	}
	if !*wait {
		fmt.Fprintln(stdout, created.BatchID)
		return nil
	}
	b, err := waitBatch(ctx, c, created.BatchID, stderr)
	if err != nil {
		return err
	}
	out, _ := json.Marshal(map[string]any{"batch_id": b.BatchID, "total": b.Total, "counts": b.Counts,
		"failures_by_code": b.FailuresByCode})
	printJSON(stdout, out)
	if b.Counts["failed"] > 0 {
		return fmt.Errorf("%w: %d of %d jobs of batch %s failed", errJobFailed, b.Counts["failed"], b.Total, b.BatchID)
	}
	return nil
}

// batchBody reads a batch body as it is, or builds one from JSON lines.
func batchBody(in io.Reader, priority string) ([]byte, error) {
	raw, err := io.ReadAll(in)
	if err != nil {
		return nil, fmt.Errorf("read batch: %w", err)
	}
	trimmed := bytes.TrimSpace(raw)
	var doc map[string]json.RawMessage
	if json.Unmarshal(trimmed, &doc) == nil && doc["setups"] != nil {
		if priority != "" {
			doc["priority"], _ = json.Marshal(priority)
		}
		return json.Marshal(doc)
	}
	var items []json.RawMessage
	sc := bufio.NewScanner(bytes.NewReader(trimmed))
	sc.Buffer(make([]byte, 0, 1<<20), 1<<20)
	for line := 1; sc.Scan(); line++ {
		l := strings.TrimSpace(sc.Text())
		if l == "" {
			continue
		}
		if !json.Valid([]byte(l)) {
			return nil, fmt.Errorf("read batch: line %d is not JSON", line)
		}
		items = append(items, json.RawMessage(l))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read batch: %w", err)
	}
	body := map[string]any{"setups": items}
	if priority != "" {
		body["priority"] = priority
	}
	return json.Marshal(body)
}

// waitBatch long-polls the batch until it finished, with a progress bar when stderr is a terminal.
func waitBatch(ctx context.Context, c *client.Client, id string, stderr io.Writer) (client.Batch, error) {
	var bar *progressbar.ProgressBar
	for {
		b, err := c.Batch(ctx, id, 2*time.Second)
		if err != nil {
			return b, err
		}
		if bar == nil && isTerminal(stderr) {
			bar = progressbar.NewOptions(b.Total, progressbar.OptionSetWriter(stderr),
				progressbar.OptionSetDescription("batch "+id), progressbar.OptionShowCount(),
				progressbar.OptionClearOnFinish())
		}
		if bar != nil {
			_ = bar.Set(b.Done())
		}
		if b.FinishedAt != nil {
			if bar != nil {
				_ = bar.Finish()
			}
			return b, nil
		}
	}
}
