package main

import (
	"bytes"
	"strings"
	"testing"
)

// capture runs apimctl's run with stdout and stderr captured.
func capture(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	po, pe := stdout, stderr
	stdout, stderr = &out, &errb
	defer func() { stdout, stderr = po, pe }()
	code := run(args)
	return code, out.String(), errb.String()
}

// TestEveryCommandHasHelp: `CMD --help` (and -h) of every command apimctl
// dispatches — taken from its tables, so a new command is in this test the
// moment it is reachable — exits 0 and prints its usage, its flags and an
// example on standard output.
func TestEveryCommandHasHelp(t *testing.T) {
	t.Setenv("APIMCTL_SERVER", "http://127.0.0.1:1") // nothing may be contacted
	paths := allCommands()
	if len(paths) < 40 {
		t.Fatalf("only %d commands found: %v", len(paths), paths)
	}
	for _, path := range paths {
		t.Run(path, func(t *testing.T) {
			h, ok := helps[path]
			if !ok || h.Usage == "" || h.Summary == "" || h.Example == "" {
				t.Fatalf("no complete help registered for %q (registerHelp in the command's file): %+v", path, h)
			}
			if !strings.HasPrefix(h.Usage, path) {
				t.Errorf("usage %q does not start with the command %q", h.Usage, path)
			}
			for _, flag := range []string{"--help", "-h"} {
				code, out, errs := capture(t, append(strings.Fields(path), flag)...)
				if code != exitOK || errs != "" {
					t.Fatalf("%s %s: exit %d, stderr %q", path, flag, code, errs)
				}
				for _, want := range []string{"usage: apimctl " + h.Usage + "\n", h.Summary, "Example:\n  apimctl " + strings.Fields(path)[0]} {
					if !strings.Contains(out, want) {
						t.Errorf("%s %s lacks %q:\n%s", path, flag, want, out)
					}
				}
				if path != "version" && !strings.Contains(out, "Flags:") && !strings.Contains(out, "Connection flags") {
					t.Errorf("%s %s lists no flags:\n%s", path, flag, out)
				}
			}
		})
	}
}

// TestUnknownFlagShowsValidOnes: a flag a command does not take is a usage
// error (exit 2) that names it and lists the flags the command does take.
func TestUnknownFlagShowsValidOnes(t *testing.T) {
	t.Setenv("APIMCTL_SERVER", "http://127.0.0.1:1")
	for _, path := range allCommands() {
		if path == "version" {
			continue
		}
		t.Run(path, func(t *testing.T) {
			code, out, errs := capture(t, append(strings.Fields(path), "--no-such-flag")...)
			if code != exitUsage || out != "" {
				t.Fatalf("exit %d, stdout %q", code, out)
			}
			for _, want := range []string{"flag provided but not defined: -no-such-flag", "flags of " + path + ":\n  -"} {
				if !strings.Contains(errs, want) {
					t.Errorf("stderr lacks %q:\n%s", want, errs)
				}
			}
		})
	}
	// The flags listed are the command's own.
	if _, _, errs := capture(t, "api", "create", "x", "--paht", "y"); !strings.Contains(errs, "did you mean --path?") || !strings.Contains(errs, "--service-url") {
		t.Errorf("api create --paht: %s", errs)
	}
	if _, _, errs := capture(t, "gw", "status", "--adr", "x"); !strings.Contains(errs, "did you mean --addr?") {
		t.Errorf("gw status --adr: %s", errs)
	}
	if _, _, errs := capture(t, "api", "list", "--zzzzzzzz"); strings.Contains(errs, "did you mean") {
		t.Errorf("a far-off flag got a suggestion: %s", errs)
	}
}

// TestGroupAndTopLevelHelp: `apimctl --help`, `apimctl help` and every
// group's `--help` (gw, api, report, …) exit 0 and list every command.
func TestGroupAndTopLevelHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		code, out, errs := capture(t, args...)
		if code != exitOK || errs != "" {
			t.Fatalf("%v: exit %d, stderr %q", args, code, errs)
		}
		for _, p := range allCommands() {
			if !strings.Contains(out, "  "+helps[p].Usage+"  ") {
				t.Errorf("%v does not list %q", args, helps[p].Usage)
			}
		}
	}
	for _, g := range groups() {
		if g == "version" {
			continue
		}
		code, out, errs := capture(t, g, "--help")
		if code != exitOK || errs != "" {
			t.Fatalf("%s --help: exit %d, stderr %q", g, code, errs)
		}
		for _, p := range pathsOf(g) {
			if !strings.Contains(out, helps[p].Usage) {
				t.Errorf("%s --help does not list %q:\n%s", g, p, out)
			}
		}
	}
	// "help CMD" is "CMD --help".
	_, a, _ := capture(t, "help", "api", "create")
	_, b, _ := capture(t, "api", "create", "--help")
	if a != b || a == "" {
		t.Errorf("help api create:\n%s\n---\napi create --help:\n%s", a, b)
	}
	// No command: the list on stderr, exit 2; a group without its
	// subcommand names the subcommands.
	if code, _, errs := capture(t); code != exitUsage || !strings.Contains(errs, "gw status") {
		t.Errorf("no arguments: exit %d\n%s", code, errs)
	}
	if code, _, errs := capture(t, "gw"); code != exitUsage || !strings.Contains(errs, "export, status") {
		t.Errorf("gw: exit %d %s", code, errs)
	}
	if code, _, errs := capture(t, "frobnicate"); code != exitUsage || !strings.Contains(errs, "api, operation") {
		t.Errorf("unknown command: exit %d %s", code, errs)
	}
}
