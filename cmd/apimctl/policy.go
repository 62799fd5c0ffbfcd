package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/apimgw/apimgw/policy"
)

// runPolicy implements `apimctl policy ...`.
func runPolicy(args []string) int {
	return runPolicyTo(args, stdout, stderr)
}

func policyUsage(w io.Writer) {
	fmt.Fprintln(w, `usage: apimctl policy check [--named-value NAME=VALUE]... [--fragment ID=FILE]... FILE...

Checks APIM policy documents (<policies> or <fragment>) without a control plane
and prints, per file, "FILE: OK" or one line per error with its position:
  FILE:LINE:COL: <element>: reason
Named values, backends and fragments that are not given are accepted as
placeholders. Exit status: 0 if every file compiles, 1 if any does not, 2 on
usage errors.

       apimctl policy run DOC --request REQ.http [--mock URL=FILE]... [--variables K=V]...
              [--named-value NAME=VALUE]... [--fragment ID=FILE]... [--backend-url URL]

Runs a policy document against the request described in REQ.http, answering
the backend and send-request calls with the mocks, and prints the request sent
to the backend, the response, the variables and a step trace (see
docs/apimctl.md).`)
}

func runPolicyTo(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "run" {
		return runPolicyRun(args[1:], stdout, stderr)
	}
	if helpWanted(args) {
		printGroup(stdout, "policy", []string{"policy check", "policy run"})
		return exitOK
	}
	if len(args) == 0 || args[0] != "check" {
		policyUsage(stderr)
		return 2
	}
	fs := flag.NewFlagSet("apimctl policy check", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	named := map[string]policy.NamedValue{}
	fragments := map[string]policy.Source{}
	fs.Func("named-value", "NAME=VALUE: define a named value", func(s string) error {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return fmt.Errorf("want NAME=VALUE, got %q", s)
		}
		named[k] = policy.NamedValue{Value: v}
		return nil
	})
	fs.Func("fragment", "ID=FILE: a fragment for include-fragment", func(s string) error {
		id, file, ok := strings.Cut(s, "=")
		if !ok || id == "" {
			return fmt.Errorf("want ID=FILE, got %q", s)
		}
		src, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		fragments[id] = policy.Source{Name: file, XML: src}
		return nil
	})
	if err := fs.Parse(args[1:]); err != nil {
		return answerFlagError(fs, err, stdout, stderr)
	}
	if fs.NArg() == 0 {
		policyUsage(stderr)
		return 2
	}
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	failed := 0
	for _, file := range fs.Args() {
		src, err := os.ReadFile(file)
		if err != nil {
			fmt.Fprintf(out, "%s: %v\n", file, err)
			failed++
			continue
		}
		err = policy.Check(policy.Options{Offline: true, NamedValues: named, Fragments: fragments}, filepath.Clean(file), src)
		if err != nil {
			failed++
		}
		policy.WriteCheck(out, filepath.Clean(file), err)
	}
	if failed > 0 {
		return 1
	}
	return 0
}
