//go:build postgres

package controlplane

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/apimgw/apimgw/controlplane/pgtest"
)

// pgServer is the PostgreSQL server of this test run (make test-postgres:
// go test -tags postgres). Every testServer gets a database of its own on
// it, so the whole suite runs against PostgreSQL; without the server the run
// fails, it never skips.
var pgServer *pgtest.Server

func TestMain(m *testing.M) {
	srv, err := pgtest.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "controlplane tests (-tags postgres):", err)
		os.Exit(1)
	}
	pgServer = srv
	openTestStore = func(ts *testServer, o Options) (*Store, error) {
		if ts.pgURL == "" {
			url, err := srv.NewDatabase()
			if err != nil {
				return nil, err
			}
			ts.pgURL = url
		}
		return OpenPostgres(context.Background(), ts.pgURL, o)
	}
	code := m.Run()
	srv.Close()
	os.Exit(code)
}
