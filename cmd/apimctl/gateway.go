package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/apimgw/apimgw/wire"
)

// gatewayToken: apimctl gateway token GW [--expiry 720h | --expiry RFC3339] [--key primary]
func gatewayToken(g *globals, fs *flag.FlagSet, args []string) int {
	expiry := fs.String("expiry", "720h", "lifetime (e.g. 720h, at most 720h) or an RFC 3339 time")
	key := fs.String("key", "primary", "key to sign with: primary or secondary")
	return simple(g, fs, args, 1, "gateway token GATEWAY [--expiry 720h] [--key primary|secondary]", func(c *client, p []string) int {
		var exp time.Time
		if d, err := time.ParseDuration(*expiry); err == nil {
			if d <= 0 || d > wire.MaxTokenLifetime {
				return usageErr("--expiry %s: must be positive and at most 720h (30 days)", *expiry)
			}
			exp = time.Now().Add(d)
		} else if t, err := time.Parse(time.RFC3339, *expiry); err == nil {
			exp = t
		} else {
			return usageErr("--expiry %q is neither a duration (720h) nor an RFC 3339 time", *expiry)
		}
		data, _, err := c.do("POST", "/gateways/"+url.PathEscape(p[0])+"/generateToken",
			map[string]any{"keyType": *key, "expiry": exp.UTC().Format(time.RFC3339)})
		if err != nil {
			return fail(err)
		}
		if g.output == "json" {
			return printJSON(data)
		}
		var v struct{ Value string }
		json.Unmarshal(data, &v)
		// The form env.conf's config.service.auth takes.
		fmt.Fprintf(stdout, "GatewayKey %s\n", v.Value)
		return exitOK
	})
}

func gatewayKeys(g *globals, fs *flag.FlagSet, args []string) int {
	return simple(g, fs, args, 1, "gateway keys GATEWAY", func(c *client, p []string) int {
		data, _, err := c.do("POST", "/gateways/"+url.PathEscape(p[0])+"/listKeys", nil)
		if err != nil {
			return fail(err)
		}
		if g.output == "json" {
			return printJSON(data)
		}
		var k struct{ Primary, Secondary string }
		json.Unmarshal(data, &k)
		fmt.Fprintf(stdout, "primary:   %s\nsecondary: %s\n", k.Primary, k.Secondary)
		return exitOK
	})
}

func gatewayRegenerateKey(g *globals, fs *flag.FlagSet, args []string) int {
	key := fs.String("key", "primary", "primary or secondary")
	return simple(g, fs, args, 1, "gateway regenerate-key GATEWAY [--key primary|secondary]", func(c *client, p []string) int {
		if _, _, err := c.do("POST", "/gateways/"+url.PathEscape(p[0])+"/regenerateKey", map[string]any{"keyType": *key}); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "regenerated the %s key of gateway %s; tokens signed with the old key no longer work\n", *key, p[0])
		return exitOK
	})
}

// gwCommands are the `apimctl gw …` subcommands: things about one gateway
// rather than control-plane resources. Other areas add theirs from their own
// file with an init function (e.g. gwCommands["status"] = runGwStatus).
var gwCommands = map[string]func(args []string) int{
	"export": runGwExport,
}

func runGw(args []string) int {
	paths := groupPaths("gw", gwCommands)
	if helpWanted(args) {
		printGroup(stdout, "gw", paths)
		return exitOK
	}
	var names []string
	for n := range gwCommands {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(args) == 0 {
		return usageErr("gw: missing subcommand (%s; apimctl gw --help)", strings.Join(names, ", "))
	}
	if f, ok := gwCommands[args[0]]; ok {
		return f(args[1:])
	}
	return usageErr("gw: unknown subcommand %q (%s; apimctl gw --help)", args[0], strings.Join(names, ", "))
}

func init() {
	registerHelp("gw export", Help{Usage: "gw export --gateway GW [--out FILE]",
		Summary: "Writes the snapshot the control plane would send a gateway, for standalone mode (env.conf config.local.path).",
		Example: "apimctl gw export --gateway gw1 --out /etc/apimgw/snapshot.json"})
}

// runGwExport writes the snapshot the control plane would send a gateway,
// for standalone mode (config.local.path).
func runGwExport(args []string) int {
	var g globals
	fs := flag.NewFlagSet("apimctl gw export", flag.ContinueOnError)
	addGlobals(fs, &g)
	gw := fs.String("gateway", "", "gateway id (required)")
	out := fs.String("out", "", "write to this file instead of standard output")
	pos, _ := parse(fs, args)
	if *gw == "" || len(pos) != 0 {
		return usageErr("usage: apimctl gw export --gateway GW [--out FILE]")
	}
	data, _, err := g.client().do("GET", "/gateways/"+url.PathEscape(*gw)+"/snapshot", nil)
	if err != nil {
		return fail(err)
	}
	snap, err := wire.Decode(data)
	if err != nil {
		return fail(fmt.Errorf("the control plane sent a snapshot that does not verify: %v", err))
	}
	// Indented and without HTML escaping, for people who edit it; the
	// checksum covers the content, not the formatting.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(snap); err != nil {
		return fail(err)
	}
	data = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if *out == "" {
		stdout.Write(data)
		fmt.Fprintln(stdout)
		return exitOK
	}
	if err := os.WriteFile(*out, append(data, '\n'), 0o600); err != nil {
		return fail(err)
	}
	return exitOK
}
