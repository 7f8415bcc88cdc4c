package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/pprof"

	"github.com/ssosetup/ssosetup/api"
)

// startDebug serves Go's pprof on SSOSETUP_DEBUG_LISTEN (off when empty; keep it on loopback).
func startDebug(ctx context.Context, cfg config, log *slog.Logger) {
	if cfg.DebugListen == "" {
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	srv := api.NewServer(cfg.DebugListen, mux)
	go func() {
		if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
			log.Warn("debug listener stopped", "error", err.Error())
		}
	}()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	log.Info("pprof listening", "addr", cfg.DebugListen)
}
