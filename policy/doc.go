// Package policy is the Azure API Management policy language: it reads real APIM
// policy documents (tolerant of their C# expressions and {{named values}}), merges
// scopes at <base/>, resolves fragments, compiles expressions and policies once per
// snapshot into a pipeline, and runs that pipeline over a request view. It does no
// network I/O itself; policies that need I/O ask the caller to run it off the loop.
//
// Entry points:
//
//   - Compiler (NewCompiler, Compile, Link): one per snapshot; turns the
//     global, product, API and operation documents into a Pipeline per
//     operation. Every unknown or unsupported construct is an *Error with file,
//     line, column, element and reason (ErrorList).
//   - Pipeline.Run / Resume: run a section over a Context and say what to do
//     next (Continue, Forward, Respond, Wait, Fail).
//   - Context: the request/response view the appliance fills from its HTTP
//     parser, reusable across requests without allocation.
//   - State: rate-limit, quota and concurrency counters that outlive
//     snapshots, with an injected clock and quota checkpoints.
//   - Check / WriteCheck: `apimctl policy check`.
//
// It is not the HTTP engine (netstack), the snapshot schema (wire) or the
// request handler (appliance): the appliance adapts wire documents to Sources
// and its parsed requests to Contexts.
//
// Concurrency: Pipelines, Policies and States are safe for concurrent use; a
// Compiler and a Context are used by one goroutine at a time.
package policy
