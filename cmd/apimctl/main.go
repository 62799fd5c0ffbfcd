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

func usageErr(format string, a ...any) int {
	fmt.Fprintf(stderr, "apimctl: "+format+"\n", a...)
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
func run(args []string) (code int) {
	defer catchExit(&code)
	// Global flags may come before the command.
	var lead []string
	for len(args) > 0 && strings.HasPrefix(args[0], "-") && args[0] != "--version" && args[0] != "-h" && args[0] != "--help" {
		lead = append(lead, args[0])
		if !strings.Contains(args[0], "=") && len(args) > 1 {
			lead = append(lead, args[1])
			args = args[2:]
			continue
		}
		args = args[1:]
	}
	if len(args) == 0 {
		printUsage(stderr)
		return exitUsage
	}
	// Keep the subcommand word first: "--token T api list" runs "api list --token T".
	cmd, rest := args[0], lead
	if len(args) > 1 {
		rest = append(append([]string{args[1]}, lead...), args[2:]...)
	}
	switch cmd {
	case "version", "--version":
		if helpWanted(args[1:]) {
			printHelp(stdout, "version", nil)
			return exitOK
		}
		fmt.Fprintln(stdout, "apimctl", version)
		return exitOK
	case "-h", "--help":
		printUsage(stdout)
		return exitOK
	case "help":
		// "apimctl help api create" is "apimctl api create --help".
		if len(args) == 1 {
			printUsage(stdout)
			return exitOK
		}
		return run(append(append([]string{}, args[1:]...), "--help"))
	case "policy":
		return runPolicy(args[1:])
	}
	if f, ok := commands[cmd]; ok {
		return f(rest)
	}
	if def := findResource(cmd); def != nil {
		return runResource(def, rest)
	}
	return usageErr("unknown command %q; the commands are: %s (apimctl --help lists them with their subcommands)", cmd, strings.Join(groups(), ", "))
}

// catchExit turns parse's exitCode panic into the command's exit code.
func catchExit(code *int) {
	if r := recover(); r != nil {
		c, ok := r.(exitCode)
		if !ok {
			panic(r)
		}
		*code = int(c)
	}
}
