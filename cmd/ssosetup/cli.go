package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/ssosetup/ssosetup/client"
)

// errJobFailed makes the process exit 1 after the failure was printed.
var errJobFailed = errors.New("the setup failed")

// enqueueCmd submits one job from JSON through the HTTP API and prints its id; with --wait it prints the
// final status and fails when the job failed.
func enqueueCmd(ctx context.Context, cfg config, args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("enqueue", flag.ContinueOnError)
	file := fs.String("f", "-", "JSON file with the setup request (- for stdin)")
	wait := fs.Bool("wait", false, "wait for the job to finish and print its status")
	key := fs.String("idempotency-key", "", "Idempotency-Key header")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	var body []byte
	var err error
	if *file == "-" {
		body, err = io.ReadAll(stdin)
	} else {
		body, err = os.ReadFile(*file)
	}
	if err != nil {
		return fmt.Errorf("read request: %w", err)
	}
	c := client.New(cfg.APIURL, cfg.APIToken)
	created, err := c.Submit(ctx, body, *key)
	if err != nil {
		return err
	}
	if !*wait {
		fmt.Fprintln(stdout, created.SetupID)
		return nil
	}
	st, err := c.Wait(ctx, created.SetupID)
	if err != nil {
		return err
	}
	printJSON(stdout, st.Raw)
	if (st.Status == "failed" || st.Status == "cancelled") && st.Error != nil {
		return fmt.Errorf("%w: %s: %s", errJobFailed, st.Error.Code, st.Error.Message)
	}
	return nil
}

// statusCmd prints a job's status document.
func statusCmd(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return errUsage
	}
	st, err := client.New(cfg.APIURL, cfg.APIToken).Status(ctx, args[0])
	if err != nil {
		return err
	}
	printJSON(stdout, st.Raw)
	return nil
}

func printJSON(w io.Writer, raw []byte) {
	var buf bytes.Buffer
	if json.Indent(&buf, raw, "", "  ") != nil {
		buf.Reset()
		buf.Write(raw)
	}
	fmt.Fprintln(w, buf.String())
}
