// Package envconf reads the gateway's env.conf (docs/interfaces.md §1) into a typed
// Config, and watches it and the standalone snapshot file for changes.
//
// The format is Azure's self-hosted gateway env.conf: key=value lines, #
// comments, blank lines. Keys Azure defines keep Azure's names and meaning, so
// an Azure env.conf works unchanged; Azure keys apimgw has no use for are
// accepted and listed in Config.Ignored, unknown keys are warnings, and a
// malformed line or an invalid value is an error naming file and line.
//
// Every key may also come from an environment variable of exactly its name,
// as a container gets them (docker run --env-file, a ConfigMap's envFrom):
// LoadEnv applies them over the file's lines, needs no file when they are
// set, and records in Config.Sources where each value came from. The token
// may be read from a file (config.service.auth.file, a mounted Secret).
//
// It is not the place that acts on configuration: the appliance decides what
// a changed token or snapshot file means. It does not import the rest of the
// appliance.
package envconf
