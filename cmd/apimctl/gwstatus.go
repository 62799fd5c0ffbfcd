package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

func init() {
	gwCommands["status"] = runGwStatus
	registerHelp("gw status", Help{Usage: "gw status [--addr HOST:PORT] [-o table|json]",
		Summary: "Prints a local gateway's status page (/status.json on env.conf's status.listen) as a table, or as it is with -o json.",
		Example: "apimctl gw status --addr 127.0.0.1:8090"})
}

// gwReport is the part of a gateway's /status.json that `apimctl gw status`
// prints (appliance/status.Report; apimctl does not import the appliance).
type gwReport struct {
	Version        string  `json:"version"`
	GatewayName    string  `json:"gatewayName"`
	Mode           string  `json:"mode"`
	Ready          bool    `json:"ready"`
	NotReadyReason string  `json:"notReadyReason"`
	Activity       string  `json:"activity"`
	UptimeSeconds  float64 `json:"uptimeSeconds"`
	TokenState     string  `json:"tokenState"`
	ControlPlane   struct {
		Endpoint  string    `json:"endpoint"`
		Connected bool      `json:"connected"`
		Since     time.Time `json:"since"`
		LastSync  time.Time `json:"lastSync"`
		LastError string    `json:"lastError"`
		// LastErrorAt and LastErrorActive: when, and whether it is still a
		// current problem (the gateway decides; false once it is history).
		LastErrorAt     time.Time `json:"lastErrorAt"`
		LastErrorActive bool      `json:"lastErrorActive"`
	} `json:"controlPlane"`
	Snapshot struct {
		Current   string    `json:"current"`
		AppliedAt time.Time `json:"appliedAt"`
	} `json:"snapshot"`
	Token *struct {
		Expiry time.Time `json:"expiry"`
	} `json:"token"`
	Telemetry struct {
		Records uint64    `json:"records"`
		Bytes   uint64    `json:"bytes"`
		Dropped uint64    `json:"dropped"`
		Oldest  time.Time `json:"oldest"`
	} `json:"telemetry"`
	Traffic []struct {
		ID       string  `json:"id"`
		Path     string  `json:"path"`
		Requests uint64  `json:"requests"`
		Errors   uint64  `json:"errors"`
		Rejected uint64  `json:"rejected"`
		P95      float64 `json:"latencyP95Ms"`
	} `json:"traffic"`
	Listeners []struct {
		Name string `json:"name"`
		Addr string `json:"addr"`
	} `json:"listeners"`
}

// runGwStatus prints a local gateway's status page (/status.json) as a table,
// or as it is with -o json.
func runGwStatus(args []string) int {
	fs := flag.NewFlagSet("apimctl gw status", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8090", "the gateway's status.listen address")
	output := fs.String("o", "table", "output: table or json")
	if pos, _ := parse(fs, args); len(pos) > 0 {
		return usageErr("usage: apimctl gw status [--addr HOST:PORT] [-o table|json]")
	}
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + *addr + "/status.json")
	if err != nil {
		fmt.Fprintf(os.Stderr, "apimctl: the gateway's status page at %s does not answer: %v\n", *addr, err)
		return exitUnreachable
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		fmt.Fprintf(os.Stderr, "apimctl: %s/status.json: %s %v\n", *addr, resp.Status, err)
		return exitFailure
	}
	if *output == "json" {
		stdout.Write(body)
		return exitOK
	}
	var r gwReport
	if err := json.Unmarshal(body, &r); err != nil {
		fmt.Fprintf(os.Stderr, "apimctl: %s/status.json is not a gateway status: %v\n", *addr, err)
		return exitFailure
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	ready := "ready"
	if !r.Ready {
		ready = "NOT READY: " + r.NotReadyReason
	}
	fmt.Fprintf(tw, "gateway\t%s (%s, %s)\n", r.GatewayName, r.Mode, ready)
	fmt.Fprintf(tw, "version\t%s, up %s\n", r.Version, (time.Duration(r.UptimeSeconds) * time.Second).String())
	fmt.Fprintf(tw, "doing\t%s\n", r.Activity)
	if r.Mode == "hybrid" {
		cp := "offline"
		if r.ControlPlane.Connected {
			cp = "connected"
		}
		fmt.Fprintf(tw, "control plane\t%s %s since %s, last sync %s\n", r.ControlPlane.Endpoint, cp, stamp(r.ControlPlane.Since), stamp(r.ControlPlane.LastSync))
	}
	if cp := r.ControlPlane; cp.LastError != "" {
		// A current problem is the error itself; one that is over is shown as
		// what happened earlier, with its time.
		if cp.LastErrorActive {
			fmt.Fprintf(tw, "last error\t%s (at %s)\n", cp.LastError, stamp(cp.LastErrorAt))
		} else {
			fmt.Fprintf(tw, "last error\tnone now; earlier, at %s: %s\n", stamp(cp.LastErrorAt), cp.LastError)
		}
	}
	fmt.Fprintf(tw, "snapshot\t%s (applied %s)\n", orDash(r.Snapshot.Current), stamp(r.Snapshot.AppliedAt))
	if r.Token != nil {
		fmt.Fprintf(tw, "token\texpires %s (%s)\n", stamp(r.Token.Expiry), r.TokenState)
	}
	fmt.Fprintf(tw, "telemetry\t%d records queued (%d bytes), %d dropped, oldest %s\n", r.Telemetry.Records, r.Telemetry.Bytes, r.Telemetry.Dropped, stamp(r.Telemetry.Oldest))
	var ls []string
	for _, l := range r.Listeners {
		ls = append(ls, l.Name+" "+l.Addr)
	}
	fmt.Fprintf(tw, "listeners\t%s\n", strings.Join(ls, ", "))
	tw.Flush()
	if len(r.Traffic) > 0 {
		fmt.Fprintln(stdout)
		tw = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "API\tPATH\tREQUESTS\t4XX\t5XX\tP95 ms")
		for _, a := range r.Traffic {
			fmt.Fprintf(tw, "%s\t/%s\t%d\t%d\t%d\t%.1f\n", orDash(a.ID), strings.TrimPrefix(a.Path, "/"), a.Requests, a.Rejected, a.Errors, a.P95)
		}
		tw.Flush()
	}
	return exitOK
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
