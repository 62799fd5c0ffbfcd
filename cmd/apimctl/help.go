package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// stderr is where usage errors go (tests replace it).
var stderr io.Writer = os.Stderr

// Help is what `apimctl CMD --help` prints for one command, beside the flags
// its FlagSet declares.
type Help struct {
	// Usage is the command line after "apimctl ": "api create NAME [flags | -f FILE.json]".
	Usage string
	// Summary is one sentence: what the command does.
	Summary string
	// Example is one or more full command lines, one per line.
	Example string
}

// helps maps a command path ("api create", "gw status") to its help.
//
// Every command registers its help here, from the file that implements it
// (an init function calling registerHelp), and names its FlagSet
// "apimctl <path>" so that parse finds it. TestEveryCommandHasHelp runs
// `<path> --help` for every command the dispatch tables know (commands,
// gwCommands, the resources and their extras, import, policies, report,
// policy), so a command added without help fails the tests.
var helps = map[string]Help{}

func registerHelp(path string, h Help) {
	if _, dup := helps[path]; dup {
		panic("apimctl: help registered twice for " + path)
	}
	helps[path] = h
}

// exitCode ends a command from deep inside flag parsing (see parse); run
// recovers it. It is flag.ExitOnError made testable: tests call run.
type exitCode int

// globalFlags are declared by addGlobals on every control-plane command.
var globalFlags = map[string]bool{"server": true, "token": true, "o": true, "ca": true}

// parse parses flags and positional arguments in any order ("create echo
// --path echo" and "create --path echo echo" both work). Its error is always
// nil (kept so that callers written for an earlier parse still compile).
//
// --help or -h prints the command's help (usage, summary, flags, example)
// on standard output and ends the command with exit 0; an unknown or
// malformed flag prints the error and the flags the command takes on
// standard error and ends it with exit 2 (usage). Either way parse does not
// return: it panics with an exitCode that run recovers. The command is the
// FlagSet's name without its "apimctl " prefix.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			flagFailed(fs, err)
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

// flagFailed answers a FlagSet's parse error as parse documents.
func flagFailed(fs *flag.FlagSet, err error) {
	panic(exitCode(answerFlagError(fs, err, stdout, stderr)))
}

// answerFlagError prints the help (flag.ErrHelp, on out) or the error and
// the valid flags (on errw) and returns the exit code: exitOK or exitUsage.
func answerFlagError(fs *flag.FlagSet, err error, out, errw io.Writer) int {
	path := strings.TrimPrefix(fs.Name(), "apimctl ")
	if errors.Is(err, flag.ErrHelp) {
		printHelp(out, path, fs)
		return exitOK
	}
	fmt.Fprintf(errw, "apimctl %s: %v\n", path, err)
	if name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: -"); ok {
		if near := nearestFlag(fs, strings.TrimLeft(name, "-")); near != "" {
			fmt.Fprintf(errw, "did you mean --%s?\n", near)
		}
	}
	if h, ok := helps[path]; ok {
		fmt.Fprintf(errw, "usage: apimctl %s\n", h.Usage)
	}
	fmt.Fprintf(errw, "flags of %s:\n", path)
	printFlags(errw, fs, false)
	if hasFlags(fs, true) {
		printFlags(errw, fs, true)
	}
	fmt.Fprintf(errw, "(apimctl %s --help shows an example)\n", path)
	return exitUsage
}

// printHelp writes the help of the command at path; fs may be nil for a
// command without flags of its own.
func printHelp(w io.Writer, path string, fs *flag.FlagSet) {
	h, ok := helps[path]
	if !ok {
		// Still useful to the user; TestEveryCommandHasHelp fails on it.
		h = Help{Usage: path + " ...", Summary: "(no help registered for this command)"}
	}
	fmt.Fprintf(w, "usage: apimctl %s\n\n%s\n", h.Usage, h.Summary)
	if fs != nil {
		if hasFlags(fs, false) {
			fmt.Fprintln(w, "\nFlags:")
			printFlags(w, fs, false)
		}
		if hasFlags(fs, true) {
			fmt.Fprintln(w, "\nConnection flags (also before the command):")
			printFlags(w, fs, true)
		}
	}
	if h.Example != "" {
		fmt.Fprintln(w, "\nExample:")
		for _, l := range strings.Split(strings.TrimSpace(h.Example), "\n") {
			fmt.Fprintln(w, "  "+strings.TrimSpace(l))
		}
	}
}

func hasFlags(fs *flag.FlagSet, global bool) bool {
	n := 0
	fs.VisitAll(func(f *flag.Flag) {
		if globalFlags[f.Name] == global {
			n++
		}
	})
	return n > 0
}

// printFlags lists the command's own flags (global false) or the connection
// flags (global true), one per line: "  --name VALUE  usage (default x)".
func printFlags(w io.Writer, fs *flag.FlagSet, global bool) {
	type line struct{ left, right string }
	var lines []line
	width := 0
	fs.VisitAll(func(f *flag.Flag) {
		if globalFlags[f.Name] != global {
			return
		}
		name, usage := flag.UnquoteUsage(f)
		left := "--" + f.Name
		if len(f.Name) == 1 {
			left = "-" + f.Name
		}
		if name != "" {
			left += " " + strings.ToUpper(name)
		}
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && !(f.Name == "token" && f.DefValue != "") {
			usage += " (default " + f.DefValue + ")"
		}
		lines = append(lines, line{left, usage})
		width = max(width, len(left))
	})
	for _, l := range lines {
		fmt.Fprintf(w, "  %-*s  %s\n", width, l.left, l.right)
	}
}

// helpWanted reports whether args ask for help before anything else
// (a dispatcher's "apimctl gw --help").
func helpWanted(args []string) bool {
	return len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help")
}

// printGroup writes the help of a command with subcommands: its summary and
// each subcommand's usage and summary (paths is every "<group> <sub>").
func printGroup(w io.Writer, group string, paths []string) {
	if h, ok := helps[group]; ok {
		fmt.Fprintf(w, "usage: apimctl %s\n\n%s\n", h.Usage, h.Summary)
	} else {
		fmt.Fprintf(w, "usage: apimctl %s <command> ...\n", group)
	}
	fmt.Fprintln(w, "\nCommands:")
	printCommandList(w, paths)
	fmt.Fprintf(w, "\napimctl %s <command> --help shows a command's flags and an example.\n", group)
	if h, ok := helps[group]; ok && h.Example != "" {
		fmt.Fprintln(w, "\nExample:")
		for _, l := range strings.Split(strings.TrimSpace(h.Example), "\n") {
			fmt.Fprintln(w, "  "+strings.TrimSpace(l))
		}
	}
}

func printCommandList(w io.Writer, paths []string) {
	width := 0
	for _, p := range paths {
		width = max(width, len(helps[p].Usage))
	}
	for _, p := range paths {
		h, ok := helps[p]
		if !ok {
			h = Help{Usage: p, Summary: "(no help registered)"}
		}
		fmt.Fprintf(w, "  %-*s  %s\n", width, h.Usage, h.Summary)
	}
}

// groupPaths lists "<group> <sub>" for the keys of a dispatch table, sorted.
func groupPaths[V any](group string, table map[string]V) []string {
	var out []string
	for k := range table {
		out = append(out, group+" "+k)
	}
	sort.Strings(out)
	return out
}

// allCommands is every command path apimctl dispatches, from its tables.
func allCommands() []string {
	var out []string
	for _, d := range resources {
		for _, sub := range resourceSubs(d) {
			out = append(out, d.name+" "+sub)
		}
	}
	out = append(out, groupPaths("gw", gwCommands)...)
	for _, g := range []struct {
		name string
		subs []string
	}{{"import", importKinds}, {"policies", policiesSubs}, {"report", reportKinds}, {"policy", []string{"check", "run"}}} {
		for _, s := range g.subs {
			out = append(out, g.name+" "+s)
		}
	}
	return append(out, "version")
}

// groups are the first words of allCommands, in the order top-level help
// lists them.
func groups() []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range allCommands() {
		g, _, _ := strings.Cut(p, " ")
		if !seen[g] {
			seen[g] = true
			out = append(out, g)
		}
	}
	return out
}

// pathsOf lists the commands of one group.
func pathsOf(group string) []string {
	var out []string
	for _, p := range allCommands() {
		if strings.HasPrefix(p, group+" ") {
			out = append(out, p)
		}
	}
	return out
}

// printUsage is the top-level help: every command with its summary.
func printUsage(w io.Writer) {
	fmt.Fprint(w, `usage: apimctl [--server URL] [--token TOKEN] [--ca FILE] [-o table|json] <command> ...

apimctl manages resources on the control plane (apimcp), checks policies
offline and reads a local gateway's status. Connection flags default to
$APIMCTL_SERVER, $APIMCTL_TOKEN and $APIMCTL_CA.

Commands:
`)
	printCommandList(w, allCommands())
	fmt.Fprint(w, `
apimctl <command> --help shows a command's flags and an example; see docs/apimctl.md.
`)
}

func init() {
	registerHelp("version", Help{Usage: "version", Summary: "Prints apimctl's version.", Example: "apimctl version"})
	registerHelp("gw", Help{Usage: "gw <command> ...", Summary: "Things about one gateway: its status page, its snapshot for standalone mode.",
		Example: "apimctl gw status --addr 127.0.0.1:8090"})
	registerHelp("import", Help{Usage: "import openapi|apiops ...", Summary: "Creates resources from an OpenAPI document or an APIOps directory.",
		Example: "apimctl import openapi petstore.yaml --api petstore --path pets"})
	registerHelp("policies", Help{Usage: "policies get|set|delete [--product P | --api A [--operation O]]", Summary: "Reads and writes policy documents at every scope (global when no flag names one).",
		Example: "apimctl policies set --api hybrid --operation test --xml rate-limit.xml"})
	registerHelp("report", Help{Usage: "report byApi|byOperation|bySubscription|byGateway|byTime [flags]", Summary: "Prints the telemetry gateways uploaded, summed per API, operation, subscription, gateway or time bucket.",
		Example: "apimctl report byApi --from 2026-05-01T00:00:00Z"})
	registerHelp("policy", Help{Usage: "policy check|run ...", Summary: "Checks policy documents, or runs one against a described request, offline.", Example: "apimctl policy check policy.xml"})
	registerHelp("policy run", Help{Usage: "policy run DOC --request REQ.http [--mock URL=FILE]... [--variables K=V]... [--named-value NAME=VALUE]... [--fragment ID=FILE]... [--backend-url URL]",
		Summary: "Runs a policy document against the request in REQ.http, answering the backend and send-request calls with the mocks, and prints the calls, the request sent to the backend, the response, the variables and a step trace.",
		Example: "apimctl policy run policy.xml --request get.http --mock http://backend.local/=resp.json --variables user=ann"})
	registerHelp("policy check", Help{Usage: "policy check [--named-value NAME=VALUE]... [--fragment ID=FILE]... FILE...",
		Summary: "Checks APIM policy documents (<policies> or <fragment>) without a control plane: \"FILE: OK\" or one line per error, FILE:LINE:COL: <element>: reason. Exit 0 if every file compiles, 1 if any does not.",
		Example: "apimctl policy check --named-value backend-key=x --fragment cors=cors.xml policy.xml"})
}

// nearestFlag returns the flag of fs closest to name (at most two edits
// away), or "".
func nearestFlag(fs *flag.FlagSet, name string) string {
	best, bestD := "", 3
	fs.VisitAll(func(f *flag.Flag) {
		if d := editDistance(name, f.Name); d < bestD {
			best, bestD = f.Name, d
		}
	})
	return best
}

// editDistance is the Levenshtein distance of a and b (short strings).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
