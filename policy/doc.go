// Package policy is the Azure API Management policy language: it reads real APIM
// policy documents (tolerant of their C# expressions and {{named values}}), merges
// scopes at <base/>, resolves fragments, compiles expressions and policies once per
// snapshot into a pipeline, and runs that pipeline over a request view. It does no
// network I/O itself; policies that need I/O ask the caller to run it off the loop.
package policy
