// Command apimcp is the central control plane: the ARM-shaped management API,
// per-gateway config distribution, heartbeats and telemetry ingest.
//
//	apimcp --listen ADDR --data DIR [--store postgres://...] [--admin-token-file FILE] [--tls-cert FILE --tls-key FILE] [--insecure-http]
package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/apimgw/apimgw/controlplane"
	"github.com/apimgw/apimgw/systemd"
)

// version is stamped by the Makefile with -ldflags "-X main.version=...".
var version = "0.0.0-dev"

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("apimcp", flag.ContinueOnError)
	showVersion := fs.Bool("version", false, "print the version and exit")
	listen := fs.String("listen", "127.0.0.1:8443", "address to listen on (host:port; port 0 picks a free one)")
	dataDir := fs.String("data", "", "data directory (bbolt file, generated admin token); required")
	storeURL := fs.String("store", "", "where the state is kept: empty for the bbolt file in --data, or postgres://user[:password]@host:port/db?sslmode=... (PostgreSQL, shared by any number of apimcp)")
	tokenFile := fs.String("admin-token-file", "", "file holding the admin bearer token (default: DIR/admin-token, generated on first start)")
	tlsCert := fs.String("tls-cert", "", "TLS certificate (PEM)")
	tlsKey := fs.String("tls-key", "", "TLS private key (PEM)")
	insecure := fs.Bool("insecure-http", false, "allow plain HTTP on a non-loopback address")
	retention := fs.Duration("telemetry-retention", 30*24*time.Hour, "how long telemetry records are kept")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *showVersion {
		fmt.Println("apimcp", version)
		return 0
	}
	// The journal (structured fields) under systemd, else text or JSON on stderr.
	handler, err := systemd.NewLogHandler(systemd.LogOptions{Format: *logFormat, Identifier: "apimcp"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "apimcp:", err)
		return 2
	}
	log := slog.New(handler)
	fail := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "apimcp: "+format+"\n", a...)
		return 1
	}
	if *dataDir == "" {
		fmt.Fprintln(os.Stderr, "apimcp: --data DIR is required")
		return 2
	}
	usePG := strings.HasPrefix(*storeURL, "postgres://") || strings.HasPrefix(*storeURL, "postgresql://")
	if *storeURL != "" && !usePG {
		fmt.Fprintln(os.Stderr, "apimcp: --store takes a postgres:// or postgresql:// URL (or nothing, for the bbolt file in --data)")
		return 2
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		fmt.Fprintln(os.Stderr, "apimcp: --tls-cert and --tls-key go together")
		return 2
	}
	useTLS := *tlsCert != ""
	if !useTLS && !*insecure && !isLoopback(*listen) {
		return fail("refusing plain HTTP on non-loopback address %q: give --tls-cert and --tls-key, or --insecure-http", *listen)
	}
	if err := os.MkdirAll(*dataDir, 0o700); err != nil {
		return fail("data directory: %v", err)
	}
	token, where, created, err := adminToken(*dataDir, *tokenFile)
	if err != nil {
		return fail("%v", err)
	}
	if created {
		fmt.Printf("apimcp: generated an admin token; it is in %s\n", where)
	} else {
		fmt.Printf("apimcp: admin token from %s\n", where)
	}
	opts := controlplane.Options{Validator: compilerValidator{}, Logger: log, TelemetryRetention: *retention}
	var store *controlplane.Store
	if usePG {
		octx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		store, err = controlplane.OpenPostgres(octx, *storeURL, opts)
		cancel()
	} else {
		store, err = controlplane.Open(filepath.Join(*dataDir, controlplane.DataFile), opts)
	}
	if errors.Is(err, bolterrors.ErrTimeout) {
		// bbolt's own words ("timeout") do not say who holds the lock.
		return fail("another apimcp holds the data directory %s (its lock on %s did not free within 2s): stop that one first, or give this one another --data",
			*dataDir, filepath.Join(*dataDir, controlplane.DataFile))
	}
	if err != nil {
		return fail("%v", err)
	}
	defer store.Close()

	var tlsConfig *tls.Config
	if useTLS {
		cert, err := tls.LoadX509KeyPair(*tlsCert, *tlsKey)
		if err != nil {
			return fail("TLS: %v", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fail("listen: %v", err)
	}
	scheme := "http"
	if useTLS {
		ln = tls.NewListener(ln, tlsConfig)
		scheme = "https"
	}
	api := controlplane.NewHandler(store, controlplane.HandlerOptions{AdminToken: token, Logger: log})
	srv := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       10 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(handler, slog.LevelWarn),
	}
	// Signals are caught before the line below: whoever waits for it may stop
	// apimcp at once and gets a clean shutdown.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// The one line scripts and tests wait for: the address actually bound.
	fmt.Printf("apimcp: listening on %s://%s\n", scheme, ln.Addr())

	go func() {
		t := time.NewTicker(time.Hour)
		defer t.Stop()
		for {
			if n, err := store.PruneTelemetry(); err != nil {
				log.Error("telemetry retention", "err", err)
			} else if n > 0 {
				log.Info("telemetry retention: deleted old records", "records", n)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	// systemd (Type=notify): ready once listening; the watchdog is pinged only
	// while the management API answers a read from the store.
	notifier := systemd.NewNotifier()
	notifier.Ready("listening on " + scheme + "://" + ln.Addr().String())
	go (&systemd.Watchdog{Notifier: notifier, Logger: log, Check: func(ctx context.Context) error {
		req := httptest.NewRequestWithContext(ctx, "GET", "/gateways", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			return fmt.Errorf("management API answered %d", rec.Code)
		}
		return nil
	}}).Run(ctx)
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return fail("serve: %v", err)
		}
	case <-ctx.Done():
		notifier.Stopping("shutting down")
		log.Info("apimcp: shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		store.Close() // releases long-polls first, so Shutdown does not wait for them
		_ = srv.Shutdown(sctx)
	}
	return 0
}

// isLoopback reports whether a listen address binds only loopback.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// adminToken reads the admin token from file, or from DIR/admin-token,
// generating that one (0600) on first start.
func adminToken(dir, file string) (token, where string, created bool, err error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", "", false, fmt.Errorf("admin token file: %w", err)
		}
		t := strings.TrimSpace(string(b))
		if len(t) < 16 {
			return "", "", false, fmt.Errorf("admin token file %s: token shorter than 16 characters", file)
		}
		return t, file, false, nil
	}
	path := filepath.Join(dir, "admin-token")
	if b, err := os.ReadFile(path); err == nil {
		t := strings.TrimSpace(string(b))
		if len(t) < 16 {
			return "", "", false, fmt.Errorf("admin token file %s: token shorter than 16 characters", path)
		}
		return t, path, false, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", "", false, fmt.Errorf("admin token file: %w", err)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", false, err
	}
	t := hex.EncodeToString(b)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", "", false, fmt.Errorf("admin token file: %w", err)
	}
	if _, err := f.WriteString(t + "\n"); err != nil {
		f.Close()
		return "", "", false, err
	}
	if err := f.Close(); err != nil {
		return "", "", false, err
	}
	return t, path, true, nil
}
