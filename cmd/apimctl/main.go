// Command apimctl is the operator CLI: resources on the control plane (apimcp),
// offline policy checks, and the status of a local gateway.
//
//	apimctl [--server URL] [--token TOKEN] [-o table|json] <command> ...
//
// See docs/apimctl.md for every command and the exit codes.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
)

// version is stamped by the Makefile with -ldflags "-X main.version=...".
var version = "0.0.0-dev"

func main() {
	os.Exit(run(os.Args[1:]))
}

// stdout is where results go (tests replace it).
var stdout io.Writer = os.Stdout

// globals are the options every control-plane command takes.
type globals struct {
	server string
	token  string
	output string
	ca     string
}

// addGlobals registers --server, --token and -o on fs, defaulting from the
// environment (APIMCTL_SERVER, APIMCTL_TOKEN).
func addGlobals(fs *flag.FlagSet, g *globals) {
	def := os.Getenv("APIMCTL_SERVER")
	if def == "" {
		def = "http://127.0.0.1:8443"
	}
	fs.StringVar(&g.server, "server", def, "control plane base URL (env APIMCTL_SERVER)")
	fs.StringVar(&g.token, "token", os.Getenv("APIMCTL_TOKEN"), "admin bearer token (env APIMCTL_TOKEN)")
	fs.StringVar(&g.output, "o", "table", "output: table or json")
	fs.StringVar(&g.ca, "ca", os.Getenv("APIMCTL_CA"), "PEM CA bundle to trust for an https control plane (env APIMCTL_CA)")
}

func (g *globals) client() *client {
	c := newHTTPClient()
	if g.ca != "" {
		pem, err := os.ReadFile(g.ca)
		pool := x509.NewCertPool()
		if err != nil || !pool.AppendCertsFromPEM(pem) {
			// The request fails with this reason rather than silently trusting the system roots.
			c.Transport = failingTransport{fmt.Errorf("--ca %s: no PEM certificates could be read (%v)", g.ca, err)}
		} else {
			c.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
		}
	}
	return &client{server: g.server, token: g.token, http: c}
}

type failingTransport struct{ err error }

func (f failingTransport) RoundTrip(*http.Request) (*http.Response, error) { return nil, f.err }

// parse parses flags and positional arguments in any order ("create echo
// --path echo" and "create --path echo echo" both work).
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func usageErr(format string, a ...any) int {
	fmt.Fprintf(os.Stderr, "apimctl: "+format+"\n", a...)
	return exitUsage
}

// commands maps the first word to its implementation.
var commands = map[string]func(args []string) int{
	"import":   runImport,
	"gw":       runGw,
	"policies": runPolicies,
	"report":   runReport,
}

// run dispatches one command line; it returns the exit code.
func run(args []string) int {
	// Global flags may come before the command.
	var lead []string
	for len(args) > 0 && strings.HasPrefix(args[0], "-") && args[0] != "--version" {
		lead = append(lead, args[0])
		if !strings.Contains(args[0], "=") && len(args) > 1 && args[0] != "-h" && args[0] != "--help" {
			lead = append(lead, args[1])
			args = args[2:]
			continue
		}
		args = args[1:]
	}
	if len(args) == 0 {
		printUsage()
		return exitUsage
	}
	// Keep the subcommand word first: "--token T api list" runs "api list --token T".
	cmd, rest := args[0], lead
	if len(args) > 1 {
		rest = append(append([]string{args[1]}, lead...), args[2:]...)
	}
	switch cmd {
	case "version", "--version":
		fmt.Fprintln(stdout, "apimctl", version)
		return exitOK
	case "help", "-h", "--help":
		printUsage()
		return exitOK
	case "policy":
		return runPolicy(args[1:])
	}
	if f, ok := commands[cmd]; ok {
		return f(rest)
	}
	if def := findResource(cmd); def != nil {
		return runResource(def, rest)
	}
	return usageErr("unknown command %q (apimctl help lists them)", cmd)
}

func printUsage() {
	var names []string
	for _, d := range resources {
		names = append(names, d.name)
	}
	sort.Strings(names)
	fmt.Fprintf(os.Stderr, `usage: apimctl [--server URL] [--token TOKEN] [--ca FILE] [-o table|json] <command> ...

resources (list | get ID | create ID [flags | -f FILE.json] | update ID [flags | -f FILE.json] | delete ID):
  %s
more:
  product add-api|remove-api|apis ...        gateway assign|unassign|apis|token|keys|regenerate-key ...
  subscription keys|regenerate ID            namedvalue value ID
  policies get|set|delete [--product P | --api A [--operation O]] [--xml FILE]
  report byApi|byOperation|bySubscription|byGateway|byTime [--from T] [--to T] [--interval PT5M]
  import openapi FILE --api ID --path SUFFIX [--service-url URL]
  import apiops DIR
  gw export --gateway GW [--out FILE]
  policy check FILE...                       (offline)
  policy run DOC --request REQ.http [--mock URL=FILE]... [--variables K=V]...   (offline)
  version
See docs/apimctl.md.
`, strings.Join(names, ", "))
}
