package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"
)

// runReport: apimctl report byApi|byOperation|bySubscription|byGateway|byTime [--from T] [--to T] [--interval PT5M]
// reportKinds are the subcommands of report.
var reportKinds = []string{"byApi", "byOperation", "bySubscription", "byGateway", "byTime"}

func init() {
	for _, k := range reportKinds {
		what := map[string]string{"byApi": "API", "byOperation": "operation", "bySubscription": "subscription", "byGateway": "gateway", "byTime": "time bucket (--interval)"}[k]
		ex := "apimctl report " + k + " --from 2026-05-01T00:00:00Z --to 2026-05-02T00:00:00Z"
		if k == "byTime" {
			ex = "apimctl report byTime --interval PT1H --from 2026-05-01T00:00:00Z"
		}
		registerHelp("report "+k, Help{Usage: "report " + k + " [--from RFC3339] [--to RFC3339]" + map[bool]string{true: " [--interval PT5M]"}[k == "byTime"],
			Summary: "Sums the telemetry the gateways uploaded per " + what + ": calls (success, blocked, failed, other), bytes, latency.", Example: ex})
	}
}

func runReport(args []string) int {
	if helpWanted(args) {
		printGroup(stdout, "report", prefixed("report", reportKinds))
		return exitOK
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return usageErr("usage: apimctl report byApi|byOperation|bySubscription|byGateway|byTime [--from RFC3339] [--to RFC3339] [--interval PT5M]")
	}
	which := args[0]
	if !contains(reportKinds, which) {
		return usageErr("report: unknown report %q (%s; apimctl report --help)", which, strings.Join(reportKinds, ", "))
	}
	var g globals
	fs := flag.NewFlagSet("apimctl report "+which, flag.ContinueOnError)
	addGlobals(fs, &g)
	from := fs.String("from", "", "start time (RFC 3339), inclusive")
	to := fs.String("to", "", "end time (RFC 3339), inclusive")
	interval := fs.String("interval", "PT5M", "byTime bucket (ISO 8601 duration)")
	parse(fs, args[1:])
	q := url.Values{}
	var clauses []string
	for _, c := range []struct{ v, op string }{{*from, "ge"}, {*to, "le"}} {
		if c.v == "" {
			continue
		}
		if _, err := time.Parse(time.RFC3339, c.v); err != nil {
			return usageErr("report: %q is not an RFC 3339 time", c.v)
		}
		clauses = append(clauses, "timestamp "+c.op+" "+c.v)
	}
	if len(clauses) > 0 {
		q.Set("$filter", strings.Join(clauses, " and "))
	}
	if which == "byTime" {
		q.Set("interval", *interval)
	}
	path := "/reports/" + url.PathEscape(which)
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	data, _, err := g.client().do("GET", path, nil)
	if err != nil {
		return fail(err)
	}
	if g.output == "json" {
		return printJSON(data)
	}
	var l struct {
		Value []struct {
			Name                                                                string
			CallCountTotal, CallCountSuccess, CallCountBlocked, CallCountFailed int64
			CallCountOther, Bandwidth                                           int64
			APITimeAvg                                                          float64 `json:"apiTimeAvg"`
			APITimeP95                                                          float64 `json:"apiTimeP95"`
			APITimeMax                                                          float64 `json:"apiTimeMax"`
		}
	}
	if err := json.Unmarshal(data, &l); err != nil {
		return fail(err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "NAME\tTOTAL\tSUCCESS\tBLOCKED\tFAILED\tOTHER\tBYTES\tAVG ms\tP95 ms\tMAX ms\t")
	for _, r := range l.Value {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%.1f\t%.1f\t%.1f\t\n", r.Name, r.CallCountTotal, r.CallCountSuccess,
			r.CallCountBlocked, r.CallCountFailed, r.CallCountOther, r.Bandwidth, r.APITimeAvg, r.APITimeP95, r.APITimeMax)
	}
	tw.Flush()
	return exitOK
}
