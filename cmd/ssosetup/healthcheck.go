package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"
)

// healthcheck probes the local listener's /healthz (WORKER_LISTEN when set, for a worker; else
// SSOSETUP_LISTEN); distroless images have no curl.
func healthcheck(ctx context.Context, cfg config) error {
	name, addr := "SSOSETUP_LISTEN", cfg.Listen
	if cfg.WorkerListen != "" {
		name, addr = "WORKER_LISTEN", cfg.WorkerListen
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s %q: %w", name, addr, err)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthz answered %s", resp.Status)
	}
	return nil
}
